//! Autotuning: the first time an op meets a shape on an adapter, it times its eligible
//! kernel variants there and keeps the fastest, in memory and in a JSON file under the
//! platform's cache directory keyed by adapter, driver and wgnn version, so that later
//! runs start with every choice made. A corrupt, stale or foreign file is ignored and
//! rewritten. `$WGNN_AUTOTUNE` (or [`GpuOptions::autotune`]) turns it off, bounds it
//! (`fast`, the default) or makes it thorough (`full`).
//!
//! [`GpuOptions::autotune`]: super::GpuOptions::autotune

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How much wgnn tunes its kernels on the adapter it runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autotune {
    /// Fixed rules choose every variant; nothing is timed, read or written.
    Off,
    /// Each new shape's variants are timed briefly (a few runs each), and a process spends
    /// about [`FAST_BUDGET`] tuning (it stops after the variant that spends it); later
    /// shapes take the fixed rule.
    Fast,
    /// Each shape met is timed afresh (choices on disk are not read, only written), every
    /// variant over more runs, with no time bound (the bench's `--tune`).
    Full,
}

/// Time one process spends tuning under [`Autotune::Fast`] before it stops (choices made
/// by then are kept).
pub const FAST_BUDGET: Duration = Duration::from_secs(5);

impl Autotune {
    /// Parses `off`, `fast` or `full`, as `$WGNN_AUTOTUNE` takes them.
    pub fn parse(text: &str) -> Result<Autotune> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "false" => Ok(Autotune::Off),
            "fast" | "" | "on" => Ok(Autotune::Fast),
            "full" => Ok(Autotune::Full),
            other => Err(Error::InvalidArgument {
                op: "GpuOptions",
                message: format!("autotune: expected `off`, `fast` or `full`, got {other:?}"),
            }),
        }
    }

    /// Timed runs per variant, and the least GPU time a timed run should cover (more
    /// dispatches go into one run until it does).
    fn runs(self) -> (usize, Duration) {
        match self {
            Autotune::Off => (0, Duration::ZERO),
            Autotune::Fast => (1, Duration::from_millis(2)),
            Autotune::Full => (5, Duration::from_millis(20)),
        }
    }
}

/// What one tuning decided: the shape class, each variant's time per dispatch, and the
/// winner.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneRecord {
    /// The op and shape class, as the cache file keys it.
    pub key: String,
    /// Each eligible variant and its best time per dispatch.
    pub timings: Vec<(String, Duration)>,
    /// The variant chosen.
    pub winner: String,
    /// Whether every variant was timed. Under [`Autotune::Fast`] a shape met as the
    /// budget runs out stops after the variant that spent it, and takes the fastest
    /// timed so far (the fixed rule's is timed first) in this process only: the choice is
    /// not written to disk, so a later run tunes the shape in full.
    pub complete: bool,
}

/// The cache file's contents.
#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
struct CacheFile {
    /// Bumped when the file's meaning changes.
    format: u32,
    /// The wgnn version that wrote it: another version's kernels differ.
    wgnn: String,
    /// Adapter name, backend, driver and driver version.
    adapter: String,
    /// Shape class to variant.
    choices: BTreeMap<String, String>,
}

const FORMAT: u32 = 1;

/// An op and the shape class it tunes for: up to eight numbers (dimensions, transposes,
/// flags) that decide which variants may run and how fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ShapeKey {
    pub(crate) op: &'static str,
    pub(crate) numbers: [usize; 8],
}

impl ShapeKey {
    /// The key as the cache file writes it: the op, then its numbers.
    fn text(&self) -> String {
        let numbers: Vec<String> = self.numbers.iter().map(usize::to_string).collect();
        format!("{} {}", self.op, numbers.join("x"))
    }
}

/// The tuner of one device: its mode, its choices and where they are kept.
pub(crate) struct Tuner {
    mode: Autotune,
    file: Option<PathBuf>,
    cache: CacheFile,
    /// Choices made or read in this process, by key: the index of the candidate.
    memo: rustc_hash::FxHashMap<ShapeKey, usize>,
    /// Variants forced by a test or the bench, by op.
    forced: BTreeMap<String, String>,
    records: Vec<TuneRecord>,
    spent: Duration,
    /// Why the cache file could not be written, once.
    write_error: Option<String>,
    /// How many [`crate::Device::without_tuning`] calls are under way.
    pauses: usize,
}

/// The adapter's identity as the cache keys it.
fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {:?} | {} | {} | {:04x}:{:04x}",
        info.name, info.backend, info.driver, info.driver_info, info.vendor, info.device
    )
}

/// The default cache file for `adapter`: `$WGNN_CACHE_DIR`, else the platform's cache
/// directory under `wgnn/`, one file per adapter identity.
pub(crate) fn default_cache_file(info: &wgpu::AdapterInfo) -> Option<PathBuf> {
    use md5::Digest;
    let folder = std::env::var_os("WGNN_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("wgnn")))?;
    let digest = md5::Md5::digest(adapter_key(info).as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Some(folder.join(format!("autotune-{hex}.json")))
}

impl Tuner {
    /// A tuner in `mode`, its choices read from `file` when that holds this adapter's
    /// and this wgnn's (anything else there is ignored, and replaced at the first write).
    pub(crate) fn new(mode: Autotune, file: Option<PathBuf>, info: &wgpu::AdapterInfo) -> Self {
        let fresh = CacheFile {
            format: FORMAT,
            wgnn: env!("CARGO_PKG_VERSION").to_string(),
            adapter: adapter_key(info),
            choices: BTreeMap::new(),
        };
        let file = if mode == Autotune::Off { None } else { file };
        let cache = file
            .as_deref()
            .and_then(read_cache)
            .filter(|c| {
                (c.format, &c.wgnn, &c.adapter) == (fresh.format, &fresh.wgnn, &fresh.adapter)
            })
            .unwrap_or(fresh);
        Tuner {
            mode,
            file,
            cache,
            memo: Default::default(),
            forced: BTreeMap::new(),
            records: Vec::new(),
            spent: Duration::ZERO,
            write_error: None,
            pauses: 0,
        }
    }

    pub(crate) fn mode(&self) -> Autotune {
        self.mode
    }

    pub(crate) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub(crate) fn force(&mut self, op: &str, variant: Option<&str>) {
        match variant {
            Some(v) => self.forced.insert(op.to_string(), v.to_string()),
            None => self.forced.remove(op),
        };
    }

    pub(crate) fn is_forced(&self, op: &str) -> bool {
        self.forced.contains_key(op)
    }

    /// The choice cached for `key`, if it is one of `candidates`.
    fn cached(&self, key: &str, candidates: &[String]) -> Option<usize> {
        let chosen = self.cache.choices.get(key)?;
        candidates.iter().position(|c| c == chosen)
    }

    /// The candidate chosen for `key` in this process or an earlier one (made before or
    /// read from the cache file), if any; a variant forced for the op when it is a
    /// candidate, else `fallback`.
    pub(crate) fn known(
        &mut self,
        key: &ShapeKey,
        candidates: &[String],
        fallback: usize,
    ) -> Option<usize> {
        if let Some(forced) = self.forced.get(key.op) {
            return Some(
                candidates
                    .iter()
                    .position(|c| c == forced)
                    .unwrap_or(fallback),
            );
        }
        if let Some(&index) = self.memo.get(key) {
            return Some(index);
        }
        // Off reads nothing, and a full sweep times every shape afresh.
        if self.mode != Autotune::Fast {
            return None;
        }
        let index = self.cached(&key.text(), candidates)?;
        self.memo.insert(*key, index);
        Some(index)
    }

    /// Remembers `index` for `key` in this process only (a rule's choice when tuning
    /// was not possible), so that the key is not looked up again.
    pub(crate) fn settle(&mut self, key: ShapeKey, index: usize) {
        self.memo.insert(key, index);
    }

    /// The tuning time this process has left: none under `off`, unbounded (None) under
    /// `full`, what [`FAST_BUDGET`] leaves under `fast`.
    pub(crate) fn time_left(&self) -> Option<Duration> {
        match self.mode {
            Autotune::Off => Some(Duration::ZERO),
            Autotune::Fast => Some(FAST_BUDGET.saturating_sub(self.spent)),
            Autotune::Full => None,
        }
    }

    /// Whether a new shape may be tuned now: tuning is on and, in `fast` mode, the
    /// process has time left in its budget.
    pub(crate) fn may_tune(&self) -> bool {
        self.time_left() != Some(Duration::ZERO)
    }

    /// Pauses tuning (`true`) or ends one pause (`false`); pauses nest.
    pub(crate) fn pause(&mut self, paused: bool) {
        if paused {
            self.pauses += 1;
        } else {
            self.pauses = self.pauses.saturating_sub(1);
        }
    }

    /// Whether tuning is paused: a new shape then takes the fixed rule, unremembered.
    pub(crate) fn is_paused(&self) -> bool {
        self.pauses > 0
    }

    /// Keeps `record`'s winner (candidate `index`) for `key`: in memory, and on disk
    /// where the record is complete.
    pub(crate) fn keep(&mut self, key: ShapeKey, index: usize, record: TuneRecord, took: Duration) {
        self.memo.insert(key, index);
        self.spent += took;
        if record.complete {
            self.cache
                .choices
                .insert(record.key.clone(), record.winner.clone());
            self.write_cache();
        }
        self.records.push(record);
    }

    /// Writes the cache file, where there is one, noting the first failure.
    fn write_cache(&mut self) {
        if let Some(path) = &self.file {
            let written = serde_json::to_vec_pretty(&self.cache)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    if let Some(folder) = path.parent() {
                        std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
                    }
                    crate::io::write_atomic(path, &bytes).map_err(|e| e.to_string())
                });
            if let Err(e) = written {
                self.write_error.get_or_insert(format!(
                    "could not keep tuning choices in {}: {e}",
                    path.display()
                ));
            }
        }
    }

    /// Everything tuned in this process so far, and the time it took.
    pub(crate) fn records(&self) -> (Vec<TuneRecord>, Duration) {
        (self.records.clone(), self.spent)
    }

    /// Why the cache file could not be written, if it could not.
    pub(crate) fn write_error(&self) -> Option<&str> {
        self.write_error.as_deref()
    }
}

fn read_cache(path: &Path) -> Option<CacheFile> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A dispatch this long is timed once in `fast` mode (see [`time_candidates`]).
const LONG_DISPATCH: Duration = Duration::from_millis(250);

/// Times each of `candidates` with `run(index, dispatches)`, which runs that many
/// dispatches of a variant in one submission and returns the wall time until it ended
/// (or None if it could not run), and returns the record of the fastest. Candidate
/// `first` (the fixed rule's) is timed first; with a `time_left`, the others are timed
/// only while that time lasts (the record is then not complete).
///
/// A submission's fixed cost (submit and wait, with no dispatch: the least of three) is
/// taken off every time. Each variant runs once untimed (a driver may compile its
/// pipeline at the first dispatch: lavapipe takes 100 ms and more), once timed to learn
/// its cost, and then, unless it is 4x slower than the fastest so far, `mode`'s timed
/// runs of enough dispatches to cover its least time each; it is kept at its best time
/// per dispatch. In `fast` mode a variant whose warm-up took [`LONG_DISPATCH`] or more is
/// kept at that time.
pub(crate) fn time_candidates(
    mode: Autotune,
    key: &ShapeKey,
    candidates: &[String],
    first: usize,
    time_left: Option<Duration>,
    mut run: impl FnMut(usize, u32) -> Option<Duration>,
) -> Option<(usize, TuneRecord)> {
    let start = Instant::now();
    let (timed_runs, least) = mode.runs();
    let overhead = (0..3).filter_map(|_| run(0, 0)).min().unwrap_or_default();
    let per_dispatch = |took: Duration, n: u32| took.saturating_sub(overhead) / n;
    // Candidate i's best time per dispatch, given the fastest so far.
    let mut time_one = |i: usize, leader: Option<Duration>| {
        let warm_up = run(i, 1)?;
        // A dispatch that long is timed by its warm-up alone (a compile, if any, is
        // small beside it), in `fast` mode.
        if mode == Autotune::Fast && warm_up >= LONG_DISPATCH {
            return Some(per_dispatch(warm_up, 1));
        }
        let mut fastest = per_dispatch(run(i, 1)?, 1);
        if leader.is_none_or(|lead| fastest < lead * 4) {
            let dispatches = (least.as_secs_f64() / fastest.as_secs_f64().max(1e-7)).ceil();
            let dispatches = dispatches.clamp(1.0, 64.0) as u32;
            for _ in 0..timed_runs {
                let Some(took) = run(i, dispatches) else {
                    break;
                };
                fastest = fastest.min(per_dispatch(took, dispatches));
            }
        }
        Some(fastest)
    };
    let mut best: Vec<Option<Duration>> = vec![None; candidates.len()];
    let mut leader: Option<Duration> = None;
    let order = std::iter::once(first).chain((0..candidates.len()).filter(|&i| i != first));
    let mut complete = true;
    for (timed, i) in order.enumerate() {
        if timed > 0 && time_left.is_some_and(|left| start.elapsed() >= left) {
            complete = false;
            break;
        }
        best[i] = time_one(i, leader);
        if let Some(fastest) = best[i] {
            leader = Some(leader.map_or(fastest, |lead| lead.min(fastest)));
        }
    }
    let timings: Vec<(String, Duration)> = candidates
        .iter()
        .zip(&best)
        .filter_map(|(c, t)| t.map(|t| (c.clone(), t)))
        .collect();
    let (winner, _) = best
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .min_by_key(|&(_, t)| t)?;
    let record = TuneRecord {
        key: key.text(),
        timings,
        winner: candidates[winner].clone(),
        complete,
    };
    Some((winner, record))
}

/// Wall time of `f`, which submits GPU work and waits for it.
pub(crate) fn timed(f: impl FnOnce() -> bool) -> Option<Duration> {
    let start = Instant::now();
    f().then(|| start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            vendor: 1,
            device: 2,
            device_type: wgpu::DeviceType::Cpu,
            device_pci_bus_id: String::new(),
            driver: "d".into(),
            driver_info: "1".into(),
            backend: wgpu::Backend::Vulkan,
            subgroup_min_size: 4,
            subgroup_max_size: 4,
            transient_saves_memory: Some(false),
            limit_bucket: None,
        }
    }

    fn key(n: usize) -> ShapeKey {
        ShapeKey {
            op: "matmul",
            numbers: [n; 8],
        }
    }

    fn keep(tuner: &mut Tuner, n: usize, index: usize) {
        keep_record(tuner, n, index, true);
    }

    fn keep_record(tuner: &mut Tuner, n: usize, index: usize, complete: bool) {
        let candidates = ["a", "b"];
        let record = TuneRecord {
            key: key(n).text(),
            timings: vec![(candidates[index].into(), Duration::from_micros(5))],
            winner: candidates[index].into(),
            complete,
        };
        tuner.keep(key(n), index, record, Duration::from_millis(1));
    }

    #[test]
    fn choices_survive_a_restart_and_are_dropped_for_another_adapter_or_a_bad_file() {
        let folder = std::env::temp_dir().join(format!("wgnn-tune-{}", std::process::id()));
        let file = folder.join("autotune.json");
        let _ = std::fs::remove_dir_all(&folder);
        let candidates = ["a".to_string(), "b".to_string()];
        let open = |name: &str| Tuner::new(Autotune::Fast, Some(file.clone()), &info(name));
        let mut tuner = open("gpu");
        keep(&mut tuner, 3, 1);
        assert_eq!(tuner.write_error(), None);

        assert_eq!(open("gpu").known(&key(3), &candidates, 0), Some(1));
        assert_eq!(open("gpu").known(&key(4), &candidates, 0), None);
        // A choice cut short by the budget holds in this process only.
        keep_record(&mut tuner, 5, 1, false);
        assert_eq!(tuner.known(&key(5), &candidates, 0), Some(1));
        assert_eq!(open("gpu").known(&key(5), &candidates, 0), None);
        // A choice that is no longer a candidate is not taken.
        assert_eq!(open("gpu").known(&key(3), &candidates[..1], 0), None);
        // A forced variant wins; one that is not a candidate gives the fallback.
        let mut forced = open("gpu");
        forced.force("matmul", Some("a"));
        assert_eq!(forced.known(&key(3), &candidates, 1), Some(0));
        forced.force("matmul", Some("c"));
        assert_eq!(forced.known(&key(3), &candidates, 1), Some(1));
        // Another adapter's tuner ignores the file, and replaces it at its first choice.
        let mut other = open("other gpu");
        assert_eq!(other.known(&key(3), &candidates, 0), None);
        keep(&mut other, 4, 0);
        assert_eq!(open("gpu").known(&key(3), &candidates, 0), None);
        assert_eq!(open("other gpu").known(&key(4), &candidates, 1), Some(0));
        // A damaged file is ignored too.
        std::fs::write(&file, b"{\"format\": 1, \"choices\": [").unwrap();
        assert_eq!(open("other gpu").known(&key(4), &candidates, 1), None);
        // Off reads nothing.
        let mut off = Tuner::new(Autotune::Off, Some(file), &info("other gpu"));
        assert!(!off.may_tune() && off.file().is_none());
        assert_eq!(off.known(&key(4), &candidates, 1), None);
        let _ = std::fs::remove_dir_all(&folder);
    }

    #[test]
    fn the_fastest_variant_wins_and_a_failed_one_is_left_out() {
        let candidates = ["slow", "fails", "fast"].map(String::from);
        let cost = [
            Duration::from_micros(300),
            Duration::ZERO,
            Duration::from_micros(100),
        ];
        let overhead = Duration::from_micros(50);
        let run = |i: usize, n: u32| (i != 1).then(|| overhead + cost[i] * n);
        let tune = |first, time_left| {
            time_candidates(Autotune::Fast, &key(1), &candidates, first, time_left, run)
        };
        let (winner, record) = tune(0, None).unwrap();
        assert_eq!((winner, record.winner.as_str()), (2, "fast"));
        assert!(record.complete);
        assert_eq!(record.timings.len(), 2);
        assert_eq!(
            record.timings[1],
            ("fast".to_string(), Duration::from_micros(100))
        );
        let none = |_, _| None;
        assert!(time_candidates(Autotune::Fast, &key(1), &candidates, 0, None, none).is_none());
        // With the budget spent, only the first candidate (the rule's) is timed.
        let (winner, record) = tune(0, Some(Duration::ZERO)).unwrap();
        assert_eq!((winner, record.complete), (0, false));
        assert_eq!(record.timings.len(), 1);
        assert_eq!(tune(2, Some(Duration::ZERO)).unwrap().1.winner, "fast");
    }

    #[test]
    fn modes_parse_and_bad_ones_are_errors() {
        assert_eq!(Autotune::parse("OFF").unwrap(), Autotune::Off);
        assert_eq!(Autotune::parse("fast").unwrap(), Autotune::Fast);
        assert_eq!(Autotune::parse("full").unwrap(), Autotune::Full);
        assert!(Autotune::parse("sometimes")
            .unwrap_err()
            .to_string()
            .contains("sometimes"));
    }
}
