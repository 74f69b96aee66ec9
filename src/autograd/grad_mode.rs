//! Grad mode: inside `no_grad`, ops record nothing.

use std::cell::Cell;

thread_local! {
    static DISABLED_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Whether ops on this thread record onto the tape.
pub fn is_grad_enabled() -> bool {
    DISABLED_DEPTH.with(|d| d.get() == 0)
}

/// While alive, ops on this thread record nothing (evaluation, optimizer updates).
pub struct NoGradGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl NoGradGuard {
    /// Turns recording off until the guard drops.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        DISABLED_DEPTH.with(|d| d.set(d.get() + 1));
        NoGradGuard {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        DISABLED_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` with recording off.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

/// Runs `f` with recording on or off as `enabled` says, whatever this thread's mode is,
/// and restores the mode after. For work handed to another thread (a rayon worker), which
/// must record as its caller would: a worker may be inside some other caller's `no_grad`
/// while it runs a job it stole.
pub(crate) fn with_grad_mode<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    /// Puts the thread's depth back when `f` returns or unwinds.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            DISABLED_DEPTH.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DISABLED_DEPTH.with(|d| d.replace(usize::from(!enabled))));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `with_grad_mode` sets the mode inside and restores the caller's after, from
    /// either mode.
    #[test]
    fn with_grad_mode_sets_the_mode_and_restores_it() {
        assert!(is_grad_enabled());
        assert!(!with_grad_mode(false, is_grad_enabled));
        assert!(is_grad_enabled());
        no_grad(|| {
            assert!(with_grad_mode(true, is_grad_enabled));
            assert!(!is_grad_enabled());
            assert!(no_grad(|| with_grad_mode(true, is_grad_enabled)));
        });
        assert!(is_grad_enabled());
    }
}
