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

/// Each case of `cases` run on the CPU and on `gpu`: every value and gradient that
/// differs beyond the case's tolerance, and every case that fails on one device only.
pub fn mismatches(cases: &[Case], gpu: &Device) -> Vec<String> {
    let mut failures = Vec::new();
    for (ci, case) in cases.iter().enumerate() {
        for (si, shapes) in case.shapes.iter().enumerate() {
            let seed = (ci * 100 + si) as u64;
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
            for (i, (g, c)) in gg.iter().zip(&cg).enumerate() {
                match (g, c) {
                    (Some(g), Some(c)) => {
                        if let Err(e) = check_close(
                            &format!("{label} grad {i}"),
                            g,
                            c,
                            10.0 * case.tol,
                            10.0 * case.tol,
                        ) {
                            failures.push(e);
                        }
                    }
                    (None, None) => {}
                    _ => failures.push(format!("{label} grad {i}: present on one device only")),
                }
            }
        }
    }
    failures
}

/// How far one case's GPU results were from its CPU twin's: the largest error over its
/// values and gradients as a fraction of what its tolerance allows (at most 1 passes).
pub fn worst_error(case: &Case, case_index: usize, gpu: &Device) -> wgnn::Result<f32> {
    let mut worst = 0.0f32;
    for (si, shapes) in case.shapes.iter().enumerate() {
        let seed = (case_index * 100 + si) as u64;
        let (cv, cg) = run(case, shapes, seed, &Device::Cpu)?;
        let (gv, gg) = run(case, shapes, seed, gpu)?;
        let scaled = |got: &[f32], want: &[f32], tol: f32| {
            got.iter()
                .zip(want)
                .filter(|(g, w)| !(g.is_nan() && w.is_nan()) && g != w)
                .map(|(g, w)| (g - w).abs() / (tol * (1.0 + w.abs())))
                .fold(
                    0.0f32,
                    |a, b| if b.is_nan() { f32::INFINITY } else { a.max(b) },
                )
        };
        worst = worst.max(scaled(&gv, &cv, case.tol));
        for (g, c) in gg.iter().zip(&cg) {
            if let (Some(g), Some(c)) = (g, c) {
                worst = worst.max(scaled(g, c, 10.0 * case.tol));
            }
        }
    }
    Ok(worst)
}
