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
