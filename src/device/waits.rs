//! Host waits: every place the host blocks until the GPU has finished its submitted work
//! goes through [`HostWaits::wait`], which counts the waits and the time they took, so
//! tests and the benchmark can hold a training step to a budget of waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters of the host's blocking waits on one device.
#[derive(Default, Debug)]
pub(crate) struct HostWaits {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl HostWaits {
    /// Blocks until `device` has finished all submitted work, counting the wait.
    pub(crate) fn wait(&self, device: &wgpu::Device) -> Result<(), wgpu::PollError> {
        let start = Instant::now();
        let result = device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ());
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }

    /// Waits so far, and the nanoseconds they took together.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
        )
    }
}
