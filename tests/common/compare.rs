//! Every op of the case table on the GPU against its CPU twin, forward and backward:
//! shared by tests/gpu_vs_cpu.rs and the bench's `--check`, which runs the same table on a
//! user's GPU. Tolerances: |gpu − cpu| ≤ tol·(1 + |cpu|) with the case's tol for values,
//! 10·tol for gradients.

use super::cases::Case;
use super::check_close;
use wgnn::{Device, Tensor};

/// The case's inputs on `device`, drawn from `seed`.
fn inputs(case: &Case, shapes: &[Vec<usize>], seed: u64, device: &Device) -> Vec<Tensor> {
    let classes = shapes[0].last().copied().unwrap_or(1);
    shapes
        .iter()
        .zip(&case.domains)
        .enumerate()
        .map(|(i, (dims, domain))| {
            let n = dims.iter().product();
            let t =
                Tensor::from_vec(domain.sample(n, classes, seed + i as u64), dims, device).unwrap();
            if case.differentiable && domain.differentiable() {
                t.requires_grad_()
            } else {
                t
            }
        })
        .collect()
}

/// Output values and, per input, its gradient (if it has one).
type Outcome = (Vec<f32>, Vec<Option<Vec<f32>>>);

/// Runs the case on one device: output values and each input's gradient of Σ w·out.
pub fn run(
    case: &Case,
    shapes: &[Vec<usize>],
    seed: u64,
    device: &Device,
) -> wgnn::Result<Outcome> {
    let xs = inputs(case, shapes, seed, device);
    let out = (case.f)(&xs)?;
    let values = out.to_vec()?;
    let mut grads = vec![None; xs.len()];
    if case.differentiable {
        let w = Tensor::uniform(out.dims(), -1.0, 1.0, seed ^ 0x5eed, device)?;
        out.mul(&w)?.sum()?.backward()?;
        for (slot, x) in grads.iter_mut().zip(&xs) {
            if let Some(g) = x.grad() {
                *slot = Some(g.to_vec()?);
            }
        }
    }
    Ok((values, grads))
}

/// One case run on the CPU and on a GPU.
pub struct Comparison {
    /// Every value and gradient that differs beyond the case's tolerance, and every
    /// shape set that fails, or has a gradient, on one device only.
    pub failures: Vec<String>,
    /// The largest error over its values and gradients as a share of what its tolerance
    /// allows (at most 1 where nothing failed).
    pub worst: f32,
}

/// The largest |got − want| / (tol·(1 + |want|)) (infinite for a NaN against a number).
fn worst_scaled(got: &[f32], want: &[f32], tol: f32) -> f32 {
    got.iter()
        .zip(want)
        .filter(|(g, w)| !(g.is_nan() && w.is_nan()) && g != w)
        .map(|(g, w)| (g - w).abs() / (tol * (1.0 + w.abs())))
        .fold(
            0.0,
            |a, b| if b.is_nan() { f32::INFINITY } else { a.max(b) },
        )
}

/// Case `case` (number `case_index` of its table, which seeds its inputs) on the CPU and
/// on `gpu`, shape set by shape set.
pub fn compare(case: &Case, case_index: usize, gpu: &Device) -> Comparison {
    let mut failures = Vec::new();
    let mut worst = 0.0f32;
    for (si, shapes) in case.shapes.iter().enumerate() {
        let seed = (case_index * 100 + si) as u64;
        let label = format!("{} {:?}", case.name, shapes);
        let (cpu, gpu_run) = (
            run(case, shapes, seed, &Device::Cpu),
            run(case, shapes, seed, gpu),
        );
        let ((cv, cg), (gv, gg)) = match (cpu, gpu_run) {
            (Ok(c), Ok(g)) => (c, g),
            (c, g) => {
                failures.push(format!("{label}: cpu {:?} / gpu {:?}", c.err(), g.err()));
                continue;
            }
        };
        if let Err(e) = check_close(&format!("{label} value"), &gv, &cv, case.tol, case.tol) {
            failures.push(e);
        }
        worst = worst.max(worst_scaled(&gv, &cv, case.tol));
        let grad_tol = 10.0 * case.tol;
        for (i, (g, c)) in gg.iter().zip(&cg).enumerate() {
            match (g, c) {
                (Some(g), Some(c)) => {
                    let what = format!("{label} grad {i}");
                    if let Err(e) = check_close(&what, g, c, grad_tol, grad_tol) {
                        failures.push(e);
                    }
                    worst = worst.max(worst_scaled(g, c, grad_tol));
                }
                (None, None) => {}
                _ => failures.push(format!("{label} grad {i}: present on one device only")),
            }
        }
    }
    Comparison { failures, worst }
}

/// Each case of `cases` (seeded by its place in `cases`) run on the CPU and on `gpu`:
/// all their failures.
pub fn mismatches(cases: &[Case], gpu: &Device) -> Vec<String> {
    cases
        .iter()
        .enumerate()
        .flat_map(|(i, case)| compare(case, i, gpu).failures)
        .collect()
}
