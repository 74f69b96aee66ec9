//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cases;
pub mod compare;

use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::{Path, PathBuf};
use wgnn::{Device, Tensor};

/// A fresh, empty folder for one test: `<temp>/wgnn-<name>-<pid>`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgnn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The real MNIST the repository ships (`data/mnist/`), or `$MNIST_DIR` when set.
pub fn mnist_dir() -> PathBuf {
    std::env::var_os("MNIST_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"))
}

/// The bytes of an IDX file of unsigned bytes: the header for `dims`, then `data`.
pub fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A small MNIST in `dir` (raw IDX files, both splits alike): one image of side x side
/// pixels, all 7, per label.
pub fn write_mnist(dir: &Path, side: u32, labels: &[u8]) {
    let n = labels.len() as u32;
    let pixels = (side * side * n) as usize;
    let images = idx_file(&[n, side, side], &vec![7u8; pixels]);
    let labels = idx_file(&[n], labels);
    for (i, (name, _)) in wgnn::data::MNIST_FILES.iter().enumerate() {
        let bytes = if i % 2 == 0 { &images } else { &labels };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// A size line of /proc/self/status (`VmRSS`, `VmSize`), in bytes.
pub fn process_memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} line in kB in /proc/self/status"))
        * 1024
}

/// The GPU device, or None (test skipped, with the reason printed) when there is no
/// adapter. With WGNN_REQUIRE_GPU=1 a missing adapter fails the test instead.
pub fn gpu() -> Option<Device> {
    match Device::gpu() {
        Ok(device) => Some(device),
        Err(e) => {
            if std::env::var("WGNN_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("WGNN_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// A private GPU device (other tests do not add to its counters) that lays products out
/// as on a large hardware GPU, splitting those that would launch too few workgroups
/// (`GpuOptions::occupancy` 256; a software adapter does not by default), or None (test
/// skipped) as [`gpu`] says. Its limits are those `$WGNN_LIMITS` chooses.
pub fn large_gpu_layout() -> Option<Device> {
    large_gpu_layout_under(None)
}

/// [`large_gpu_layout`] opened with `limits` (`None`: as `$WGNN_LIMITS` chooses).
pub fn large_gpu_layout_under(limits: Option<wgnn::device::DeviceLimits>) -> Option<Device> {
    gpu()?;
    let options = wgnn::device::GpuOptions {
        occupancy: Some(256),
        limits,
        ..wgnn::device::GpuOptions::default()
    };
    Some(Device::gpu_with(&options).unwrap())
}

/// The CPU and, when there is an adapter, the GPU.
pub fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    devices.extend(gpu());
    devices
}

/// How test inputs are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Uniform in [lo, hi), nudged at least 0.05 away from each kink.
    Uniform(f32, f32, &'static [f32]),
    /// Integer class labels in [0, C), C being the last dim of the case's first input.
    Labels,
    /// Uniform in [lo, hi), held constant (no gradient checked): given statistics.
    Constant(f32, f32),
}

impl Domain {
    pub fn sample(self, n: usize, classes: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| match self {
                Domain::Uniform(lo, hi, kinks) => {
                    let mut v = rng.random_range(lo..hi);
                    for &k in kinks {
                        if (v - k).abs() < 0.05 {
                            v = if v >= k {
                                k + 0.05 + (v - k)
                            } else {
                                k - 0.05 + (v - k)
                            };
                        }
                    }
                    v
                }
                Domain::Labels => rng.random_range(0..classes.max(1)) as f32,
                Domain::Constant(lo, hi) => rng.random_range(lo..hi),
            })
            .collect()
    }

    pub fn differentiable(self) -> bool {
        matches!(self, Domain::Uniform(..))
    }
}

/// Checks |got − want| ≤ atol + rtol·|want| elementwise, naming the first offender.
pub fn check_close(
    what: &str,
    got: &[f32],
    want: &[f32],
    atol: f32,
    rtol: f32,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan()) || g == w;
        if !ok {
            return Err(format!(
                "{what}: element {i}: got {g}, want {w} (atol {atol}, rtol {rtol})"
            ));
        }
    }
    Ok(())
}

/// Panics with every failure of a table-driven test at once.
pub fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A tensor from `data` on `device`.
pub fn tensor(data: &[f32], dims: &[usize], device: &Device) -> Tensor {
    Tensor::from_vec(data.to_vec(), dims, device).unwrap()
}
