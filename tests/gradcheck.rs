//! Finite-difference gradient check of every differentiable op on the CPU path: the
//! objective Σ w·f(x) and its central differences are taken in f64 over the op's f32
//! outputs (step 1e-3); the tape's gradient must agree within 3e-3 + 2e-2·|numeric|.
//! The GPU's backward kernels are held to the CPU's by tests/gpu_vs_cpu.rs.

mod common;

use common::{cases, report};
use wgnn::{Device, Tensor};

const STEP: f64 = 1e-3;

fn objective(case: &cases::Case, values: &[Vec<f32>], shapes: &[Vec<usize>], w: &[f32]) -> f64 {
    let xs: Vec<Tensor> = values
        .iter()
        .zip(shapes)
        .map(|(v, d)| Tensor::from_vec(v.clone(), d, &Device::Cpu).unwrap())
        .collect();
    let out = (case.f)(&xs).unwrap().to_vec().unwrap();
    out.iter().zip(w).map(|(&o, &w)| o as f64 * w as f64).sum()
}

#[test]
fn every_op_gradient_matches_finite_differences() {
    let mut failures = Vec::new();
    for (ci, case) in cases::all()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.differentiable)
    {
        let shapes = &case.grad_shapes;
        let classes = shapes[0].last().copied().unwrap_or(1);
        let values: Vec<Vec<f32>> = shapes
            .iter()
            .zip(&case.domains)
            .enumerate()
            .map(|(i, (d, dom))| dom.sample(d.iter().product(), classes, (ci * 10 + i) as u64))
            .collect();
        let xs: Vec<Tensor> = values
            .iter()
            .zip(shapes)
            .zip(&case.domains)
            .map(|((v, d), dom)| {
                let t = Tensor::from_vec(v.clone(), d, &Device::Cpu).unwrap();
                if dom.differentiable() {
                    t.requires_grad_()
                } else {
                    t
                }
            })
            .collect();
        let out = (case.f)(&xs).unwrap();
        let w = Tensor::uniform(out.dims(), -1.0, 1.0, 99, &Device::Cpu).unwrap();
        out.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        let w = w.to_vec().unwrap();
        for (i, x) in xs.iter().enumerate() {
            if !case.domains[i].differentiable() {
                continue;
            }
            let analytic = x
                .grad()
                .map(|g| g.to_vec().unwrap())
                .unwrap_or_else(|| vec![0.0; x.numel()]);
            for j in 0..x.numel() {
                let mut plus = values.clone();
                plus[i][j] = (values[i][j] as f64 + STEP) as f32;
                let mut minus = values.clone();
                minus[i][j] = (values[i][j] as f64 - STEP) as f32;
                let h = plus[i][j] as f64 - minus[i][j] as f64;
                let numeric =
                    (objective(case, &plus, shapes, &w) - objective(case, &minus, shapes, &w)) / h;
                let a = analytic[j] as f64;
                if (a - numeric).abs() > 3e-3 + 2e-2 * numeric.abs() {
                    failures.push(format!(
                        "{} input {i} element {j}: tape {a}, finite difference {numeric}",
                        case.name
                    ));
                }
            }
        }
    }
    report(failures);
}
