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
    cpu_nanos: AtomicU64,
}

/// The calling thread's CPU time in nanoseconds, where the platform has such a clock.
fn thread_cpu_nanos() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (status == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

impl HostWaits {
    /// Blocks until `device` has finished all submitted work, counting the wait.
    pub(crate) fn wait(&self, device: &wgpu::Device) -> Result<(), wgpu::PollError> {
        let start = Instant::now();
        let cpu_start = thread_cpu_nanos();
        let result = device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_nanos()) {
            self.cpu_nanos
                .fetch_add(b.saturating_sub(a), Ordering::Relaxed);
        }
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }

    /// Waits so far, the nanoseconds they took together, and the CPU time the waiting
    /// threads spent in them.
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.nanos.load(Ordering::Relaxed),
            self.cpu_nanos.load(Ordering::Relaxed),
        )
    }
}
