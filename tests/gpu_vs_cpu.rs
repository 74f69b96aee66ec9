//! Every op on the GPU against its CPU twin, forward and backward, on awkward shapes
//! (1, 3, 17, 65, 127: none a multiple of a tile). Tolerances: |gpu − cpu| ≤ tol·(1 + |cpu|)
//! with the case's tol (1e-4 unless stated) for values, 10·tol for gradients.

mod common;

use common::compare::mismatches;
use common::{cases, check_close, gpu, report};
use wgnn::device::{GpuOptions, Launch};
use wgnn::{Device, Tensor};

#[test]
fn every_op_matches_its_cpu_twin() {
    let Some(gpu) = gpu() else { return };
    report(mismatches(&cases::all(), &gpu));
}

#[test]
fn heavy_products_match_their_cpu_twins_when_laid_out_for_a_large_gpu() {
    // A device that splits products as on hardware (lavapipe's own default does not):
    // the small-tile GEMM and the split weight gradients with their sum pass.
    let Some(gpu) = common::large_gpu_layout() else {
        return;
    };
    let ctx = gpu.gpu_context().unwrap();
    ctx.log_launches(true);
    let mut failures = mismatches(&cases::heavy(), &gpu);
    let launches = ctx.take_launches();
    for entry in [".matmul_split", ".sum_splits"] {
        if !launches.iter().any(|l| l.kernel.contains(entry)) {
            failures.push(format!("no {entry} kernel ran"));
        }
    }
    report(failures);
}

/// Every layout of a product, forced in turn: the matmul and linear cases (forward and
/// backward) each run on the forced variant wherever their shapes admit it.
#[test]
fn every_product_variant_matches_its_cpu_twin_when_forced() {
    if gpu().is_none() {
        return;
    }
    let device = private_device();
    let products = cases_named(&["matmul", "linear"]);
    let mut failures = Vec::new();
    for variant in cases::PRODUCT_VARIANTS {
        let (mismatched, launches) = run_forced(&device, &products, "matmul", variant);
        failures.extend(mismatched.into_iter().map(|f| format!("{variant}: {f}")));
        let entry = format!(".{}", variant.split(' ').next().unwrap_or(variant));
        let tile = variant
            .split(' ')
            .nth(1)
            .map(|t| t.replace('x', " TN="))
            .map(|t| format!("TM={t}"));
        let ran = |family: &str| {
            launches.iter().any(|l| {
                l.kernel.starts_with(family)
                    && l.kernel.contains(&entry)
                    && tile.as_ref().is_none_or(|t| l.kernel.contains(t.as_str()))
            })
        };
        if !ran("") {
            failures.push(format!("{variant} never ran"));
        }
        // The large kernel also serves the gradient products: gated, with row sums.
        if variant == "matmul_large" {
            for family in [
                "matmul_large_gated.",
                "matmul_large_row_sums_gated.",
                "matmul_large_row_sums.",
            ] {
                if !ran(family) {
                    failures.push(format!("{family} never ran"));
                }
            }
        }
    }
    report(failures);
}

/// The convolutions' 64x64-, 128x128- and 32x128-tile kernels, each forced: every conv2d
/// case (forward, both gradients, split weight gradients) against the CPU.
#[test]
fn every_convolution_tile_matches_its_cpu_twin_when_forced() {
    if gpu().is_none() {
        return;
    }
    let device = private_device();
    let convs = cases_named(&["conv2d"]);
    let mut failures = Vec::new();
    for tile in cases::CONV_TILES {
        let (mismatched, launches) = run_forced(&device, &convs, "conv2d", tile);
        failures.extend(mismatched.into_iter().map(|f| format!("{tile}: {f}")));
        // conv2d_large_64 is conv2d_large with 64-row tiles (LARGE_BM 64).
        let (entry, rows) = match tile {
            "conv2d_large_64" => ("conv2d_large", Some("LARGE_BM=64")),
            "conv2d_large" => ("conv2d_large", Some("LARGE_BM=128")),
            _ => (tile, None),
        };
        for mode in 0..3 {
            let entry = format!(".{entry} MODE={mode}");
            let ran = launches
                .iter()
                .any(|l| l.kernel.contains(&entry) && rows.is_none_or(|r| l.kernel.contains(r)));
            if !ran {
                failures.push(format!("no {entry} launch of {tile}"));
            }
        }
    }
    report(failures);
}

/// Every variant of the kernels that reduce within a workgroup, forced: 64, 128 and 256
/// threads, combining by a tree in workgroup memory or (where the adapter has SUBGROUP, as
/// lavapipe does) through subgroup operations; the sum, softmax, cross-entropy and
/// batch-norm cases, values and gradients, against the CPU.
#[test]
fn every_reduction_variant_matches_its_cpu_twin_when_forced() {
    if gpu().is_none() {
        return;
    }
    let device = private_device();
    let reducing = cases_named(&cases::REDUCING_CASES);
    let variants = cases::reduction_variants(&device);
    // CI's lavapipe has SUBGROUP: the subgroup variants must be among those checked.
    let info = device.gpu_context().unwrap().info().clone();
    let lavapipe = info.name.contains("llvmpipe") && info.backend == wgnn::wgpu::Backend::Vulkan;
    assert!(
        !lavapipe || variants.len() == 6 || std::env::var("WGNN_WITHOUT").is_ok(),
        "lavapipe offers SUBGROUP, yet the variants are {variants:?}"
    );
    let mut failures = Vec::new();
    for variant in variants {
        let (mismatched, launches) = run_forced(&device, &reducing, "reduction", &variant);
        failures.extend(mismatched.into_iter().map(|f| format!("{variant}: {f}")));
        let subgroups = variant.starts_with("subgroups");
        let threads = variant.trim_start_matches(char::is_alphabetic);
        for entry in ["reduce_rows", "softmax", "cross_entropy", "channel_reduce"] {
            let ran = launches.iter().any(|l| {
                l.kernel.contains(&format!(".{entry} "))
                    && l.kernel.contains(&format!("WG={threads}"))
                    && l.kernel.contains("_subgroups.") == subgroups
            });
            if !ran {
                failures.push(format!("{variant}: no {entry} launch"));
            }
        }
    }
    report(failures);
}

/// A GPU device of the test's own: forcing a variant on the shared one would change the
/// kernels other tests run.
fn private_device() -> Device {
    Device::gpu_with(&GpuOptions::default()).unwrap()
}

/// The cases of the table whose names start with one of `prefixes`.
fn cases_named(prefixes: &[&str]) -> Vec<cases::Case> {
    cases::all()
        .into_iter()
        .filter(|c| prefixes.iter().any(|p| c.name.starts_with(p)))
        .collect()
}

/// `cases` run against the CPU on `device` with `op`'s variant `variant` forced: their
/// mismatches, and the launches they made.
fn run_forced(
    device: &Device,
    cases: &[cases::Case],
    op: &str,
    variant: &str,
) -> (Vec<String>, Vec<Launch>) {
    let ctx = device.gpu_context().unwrap();
    ctx.force_variant(op, Some(variant));
    ctx.log_launches(true);
    let failures = mismatches(cases, device);
    (failures, ctx.take_launches())
}

#[test]
fn large_sum_takes_the_two_stage_path() {
    let Some(gpu) = gpu() else { return };
    let n = 100_003;
    let data: Vec<f32> = (0..n).map(|i| ((i % 7) as f32 - 3.0) * 0.25).collect();
    let want: f64 = data.iter().map(|&v| v as f64).sum();
    let t = Tensor::from_vec(data.clone(), &[n], &gpu).unwrap();
    let got = t.sum().unwrap().item().unwrap() as f64;
    assert!(
        (got - want).abs() < 1e-2,
        "sum of {n}: got {got}, want {want}"
    );
    let mean = t.mean().unwrap().item().unwrap() as f64;
    assert!((mean - want / n as f64).abs() < 1e-6, "mean: got {mean}");
}

/// Shapes spanning several tiles, and shapes whose contiguous axes are multiples of 4
/// (the vec4 kernels, 64- and 128-wide tiles), with every transpose combination and a batch.
#[test]
fn matmul_of_many_tiles_matches_cpu() {
    let Some(gpu) = gpu() else { return };
    let shapes = [
        (130, 129, 67),
        (1, 300, 1),
        (200, 1, 3),
        (64, 64, 64),
        (132, 68, 4),
        (4, 4, 4),
        (68, 20, 136),
        // The large-tile kernel: M, N >= 512, ragged against its 128x128 tiles.
        (516, 36, 520),
        (512, 4, 512),
    ];
    for &(m, k, n) in &shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a_dims = if ta { [2, k, m] } else { [2, m, k] };
            let b_dims = if tb { [2, n, k] } else { [2, k, n] };
            let a = Tensor::uniform(&a_dims, -1.0, 1.0, 7, &Device::Cpu).unwrap();
            let b = Tensor::uniform(&b_dims, -1.0, 1.0, 8, &Device::Cpu).unwrap();
            let want = a.matmul_t(&b, ta, tb).unwrap().to_vec().unwrap();
            let got = a
                .to_device(&gpu)
                .unwrap()
                .matmul_t(&b.to_device(&gpu).unwrap(), ta, tb)
                .unwrap()
                .to_vec()
                .unwrap();
            let what = format!("matmul {m}x{k}x{n} ta={ta} tb={tb}");
            report(
                check_close(&what, &got, &want, 1e-4, 1e-4)
                    .err()
                    .into_iter()
                    .collect(),
            );
        }
    }
}
