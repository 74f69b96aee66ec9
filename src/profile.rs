//! The profiler. Set `WGNN_PROFILE=1` in the environment and any program using wgnn
//! prints, when it exits, where its time went:
//!
//! - **GPU time per kernel**, from timestamp queries written at the start and end of each
//!   dispatch, where the adapter offers them (`TIMESTAMP_QUERY`). While profiling, each
//!   dispatch gets its own compute pass and every submit waits for its timestamps, so the
//!   program runs slower than usual; the kernel times themselves are the GPU's.
//! - **CPU time recording GPU work**: the host time spent encoding dispatches.
//! - **Launches per kernel**: how many workgroups each kernel's dispatches launched (mean
//!   and fewest) and the work the op declared for them, to see which products leave a
//!   large GPU idle (the launch log, [`crate::device::GpuContext::log_launches`], gives
//!   each dispatch).
//! - **Host time per op**: on the CPU path an op's computation, on the GPU path the time
//!   to record its dispatches. A forward op is charged the host time since the previous
//!   op on its thread ended (work between ops, such as creating tensors, is charged to
//!   the next op, and the first op on a thread is not timed); a backward rule and an optimizer step are timed on their own, as one
//!   entry each, including the ops they run.
//!
//! [`report`] gives the same table at any time; [`reset`] starts afresh.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

/// Calls and total time of one table row.
#[derive(Clone, Copy, Default)]
struct Stat {
    count: u64,
    total: Duration,
}

impl Stat {
    fn add(&mut self, time: Duration) {
        self.count += 1;
        self.total += time;
    }
}

/// Dispatches, workgroups and declared flops of one kernel.
#[derive(Clone, Copy, Default)]
struct LaunchStat {
    count: u64,
    workgroups: u64,
    fewest: u64,
    flops: u64,
}

/// Everything measured so far.
#[derive(Default)]
struct Profile {
    /// kernel → its launches.
    launches: HashMap<String, LaunchStat>,
    /// (op, device) → host time.
    host: HashMap<(String, &'static str), Stat>,
    /// kernel → GPU time.
    kernels: HashMap<String, Stat>,
    /// CPU time recording dispatches.
    recording: Stat,
    /// Why GPU kernel times are missing, when they are.
    gpu_note: Option<String>,
}

static PROFILE: OnceLock<Mutex<Profile>> = OnceLock::new();
static PRINT_AT_EXIT: Once = Once::new();

thread_local! {
    /// When the current host interval began (the end of the previous op on this thread).
    static INTERVAL_START: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Depth of timed scopes: ops inside one are part of it, not rows of their own.
    static SCOPE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether `WGNN_PROFILE` is set to something other than empty or `0`.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let on = std::env::var("WGNN_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
        if on {
            PRINT_AT_EXIT.call_once(register_exit_report);
        }
        on
    })
}

fn profile() -> MutexGuard<'static, Profile> {
    PROFILE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Charges the host time since the previous op on this thread to `op` on `device`.
pub(crate) fn op_finished(op: &str, device: &'static str) {
    if !enabled() || SCOPE_DEPTH.get() > 0 {
        return;
    }
    let now = Instant::now();
    if let Some(start) = INTERVAL_START.replace(Some(now)) {
        profile()
            .host
            .entry((op.to_string(), device))
            .or_default()
            .add(now - start);
    }
}

/// Runs `work` and charges its host time to `name` + `suffix` on `device`, as one entry: ops inside
/// it are not counted on their own.
pub(crate) fn timed<T>(
    [name, suffix]: [&str; 2],
    device: &'static str,
    work: impl FnOnce() -> T,
) -> T {
    if !enabled() {
        return work();
    }
    SCOPE_DEPTH.set(SCOPE_DEPTH.get() + 1);
    let start = Instant::now();
    let out = work();
    let now = Instant::now();
    SCOPE_DEPTH.set(SCOPE_DEPTH.get() - 1);
    if SCOPE_DEPTH.get() == 0 {
        profile()
            .host
            .entry((format!("{name}{suffix}"), device))
            .or_default()
            .add(now - start);
        INTERVAL_START.set(Some(now));
    }
    out
}

/// Adds the CPU time spent recording one dispatch.
pub(crate) fn add_recording(time: Duration) {
    profile().recording.add(time);
}

/// Adds measured GPU times of kernels.
pub(crate) fn add_kernel_times(times: impl IntoIterator<Item = (String, Duration)>) {
    let mut p = profile();
    for (kernel, time) in times {
        p.kernels.entry(kernel).or_default().add(time);
    }
}

/// Adds one dispatch to its kernel's launch row.
pub(crate) fn add_launch(launch: &crate::device::Launch) {
    let mut p = profile();
    let stat = p.launches.entry(launch.kernel.clone()).or_default();
    let workgroups = launch.workgroups();
    stat.fewest = if stat.count == 0 {
        workgroups
    } else {
        stat.fewest.min(workgroups)
    };
    stat.count += 1;
    stat.workgroups += workgroups;
    stat.flops += launch.flops.unwrap_or(0);
}

/// Says why GPU kernel times are missing (printed under the table).
pub(crate) fn note_gpu(note: String) {
    profile().gpu_note.get_or_insert(note);
}

/// Forgets everything measured so far.
pub fn reset() {
    *profile() = Profile::default();
    INTERVAL_START.set(None);
}

/// Rows sorted by total time, longest first, with their share of `total`.
fn table<K>(out: &mut String, title: &str, mut rows: Vec<(K, Stat)>, label: impl Fn(&K) -> String) {
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.total));
    let total: Duration = rows.iter().map(|r| r.1.total).sum();
    let _ = writeln!(out, "{title} (total {:.3} ms)", total.as_secs_f64() * 1e3);
    let _ = writeln!(
        out,
        "  {:<44} {:>8} {:>12} {:>11} {:>7}",
        "name", "count", "total ms", "mean µs", "share"
    );
    for (key, stat) in rows {
        let ms = stat.total.as_secs_f64() * 1e3;
        let share = if total.is_zero() {
            0.0
        } else {
            100.0 * stat.total.as_secs_f64() / total.as_secs_f64()
        };
        let _ = writeln!(
            out,
            "  {:<44} {:>8} {:>12.3} {:>11.2} {:>6.1}%",
            label(&key),
            stat.count,
            ms,
            ms * 1e3 / stat.count.max(1) as f64,
            share
        );
    }
}

/// The profile so far as a printable table, or None when profiling is off.
pub fn report() -> Option<String> {
    if !enabled() {
        return None;
    }
    let p = profile();
    let mut out = String::from("\n== wgnn profile (WGNN_PROFILE=1)\n");
    if !p.kernels.is_empty() {
        let rows = p.kernels.iter().map(|(k, s)| (k.clone(), *s)).collect();
        table(
            &mut out,
            "GPU time per kernel (timestamp queries)",
            rows,
            String::clone,
        );
    }
    let untimed = p.kernels.is_empty() && !p.launches.is_empty();
    let note = p.gpu_note.as_deref().or(untimed.then_some(
        "no kernel timer: the device opened before profiling began, or without timestamp queries",
    ));
    if let Some(note) = note {
        let _ = writeln!(out, "GPU time per kernel: not measured ({note})");
    }
    if p.recording.count > 0 {
        let _ = writeln!(
            out,
            "CPU time recording GPU work: {} dispatches, {:.3} ms, {:.2} µs per dispatch",
            p.recording.count,
            p.recording.total.as_secs_f64() * 1e3,
            p.recording.total.as_secs_f64() * 1e6 / p.recording.count as f64
        );
    }
    if !p.launches.is_empty() {
        let mut rows: Vec<_> = p.launches.iter().collect();
        rows.sort_by_key(|(_, s)| std::cmp::Reverse(s.flops));
        let _ = writeln!(out, "Launches per kernel (by declared work)");
        let _ = writeln!(
            out,
            "  {:<44} {:>8} {:>12} {:>11} {:>11}",
            "name", "count", "mean groups", "fewest", "mean MFLOP"
        );
        for (kernel, s) in rows {
            let _ = writeln!(
                out,
                "  {:<44} {:>8} {:>12.0} {:>11} {:>11.2}",
                kernel,
                s.count,
                s.workgroups as f64 / s.count as f64,
                s.fewest,
                s.flops as f64 / s.count as f64 / 1e6
            );
        }
    }
    let rows = p.host.iter().map(|(k, s)| (k.clone(), *s)).collect();
    table(
        &mut out,
        "Host time per op (CPU path: computing; GPU path: recording)",
        rows,
        |(op, device)| format!("{op} [{device}]"),
    );
    Some(out)
}

extern "C" fn print_report_at_exit() {
    if let Some(text) = report() {
        eprint!("{text}");
    }
}

fn register_exit_report() {
    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }
    // SAFETY: atexit is the C standard library's; the callback is a plain function that
    // stays valid for the life of the process.
    unsafe {
        atexit(print_report_at_exit);
    }
}
