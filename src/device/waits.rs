//! Host waits: every place the host blocks until the GPU has finished its submitted work
//! goes through [`HostWaits::wait`], which counts the waits and the time they took, so
//! tests and the benchmark can hold a training step to a budget of waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of the host's blocking waits on one device.
#[derive(Default, Debug)]
pub(crate) struct HostWaits {
    count: AtomicU64,
    nanos: AtomicU64,
    cpu_nanos: AtomicU64,
}

/// The CPU time the calling thread has used so far, where the platform has such a clock
/// (Unix); `None` elsewhere. On a software adapter the GPU's work runs on the same cores as
/// the thread recording it, so that thread's wall time includes time spent descheduled,
/// and its CPU time does not: the benchmark measures recording with this.
pub fn thread_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid pointer.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (status == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
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
        let cpu_start = thread_cpu_time();
        let result = device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_time()) {
            let spent = u64::try_from(b.saturating_sub(a).as_nanos()).unwrap_or(u64::MAX);
            self.cpu_nanos.fetch_add(spent, Ordering::Relaxed);
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The clock advances while the thread computes and hardly while it sleeps.
    #[test]
    fn thread_cpu_time_counts_computing_not_sleeping() {
        let start = thread_cpu_time().expect("a thread CPU clock on Unix");
        let wall = Instant::now();
        let mut x = 1u64;
        while thread_cpu_time().unwrap() - start < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            assert!(
                wall.elapsed() < Duration::from_secs(10),
                "the clock did not advance"
            );
        }
        let before_sleep = thread_cpu_time().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time().unwrap() - before_sleep;
        assert!(
            slept < Duration::from_millis(25),
            "{slept:?} of CPU time while asleep"
        );
    }
}
