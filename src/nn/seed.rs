//! Seeds for layer initialisation and dropout: a per-thread generator that
//! `manual_seed` resets, so a program that seeds once builds the same model every run.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0x5eed_0f77_6e6e) };
}

/// Resets this thread's layer seed generator (like `torch.manual_seed`).
pub fn manual_seed(seed: u64) {
    STATE.with(|s| s.set(seed));
}

/// The next seed (SplitMix64).
pub(crate) fn next_seed() -> u64 {
    STATE.with(|s| {
        let state = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A layer's own stream of per-call seeds (dropout masks, augmentations): drawn from the
/// thread's generator when the layer is built, then advanced on every call. Checkpoints
/// save and restore its [`state`](SeedStream::state), so a resumed run draws the same
/// masks as an uninterrupted one.
pub struct SeedStream {
    seed: AtomicU64,
    calls: AtomicU64,
}

impl SeedStream {
    pub(crate) fn new() -> Self {
        SeedStream {
            seed: AtomicU64::new(next_seed()),
            calls: AtomicU64::new(0),
        }
    }

    /// The seed of the next call.
    pub(crate) fn next(&self) -> u64 {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        self.seed.load(Ordering::Relaxed) ^ call.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// The stream's seed and the number of calls drawn so far.
    pub fn state(&self) -> [u64; 2] {
        [
            self.seed.load(Ordering::Relaxed),
            self.calls.load(Ordering::Relaxed),
        ]
    }

    /// Puts the stream back where [`state`](SeedStream::state) found it.
    pub fn set_state(&self, [seed, calls]: [u64; 2]) {
        self.seed.store(seed, Ordering::Relaxed);
        self.calls.store(calls, Ordering::Relaxed);
    }
}
