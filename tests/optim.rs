//! Optimizers against the textbook formulas: an independent f64 reference of each rule,
//! one and several steps, on the CPU and the GPU; plus known first-step numbers, clipping
//! and the errors for bad hyperparameters.

mod common;

use common::{check_close, report};
use wgnn::optim::{Clip, Optimizer, Rule};
use wgnn::{Device, Tensor};

const START: [f32; 3] = [1.0, -2.0, 0.5];
/// The gradient at step t is GRADS[t % 3], fed through the loss Σ p·c.
const GRADS: [[f32; 3]; 3] = [[0.5, -1.0, 2.0], [0.25, 0.5, -3.0], [-1.5, 0.1, 1.0]];

/// Textbook updates in f64 with their own state, independent of the library's code.
fn reference(rule: Rule, lr: f64, steps: usize) -> Vec<f32> {
    let mut p: Vec<f64> = START.iter().map(|&v| v as f64).collect();
    let n = p.len();
    let (mut s1, mut s2) = (vec![0.0f64; n], vec![0.0f64; n]);
    if let Rule::Adagrad {
        initial_accumulator,
        ..
    } = rule
    {
        s1 = vec![initial_accumulator as f64; n];
    }
    for t in 1..=steps {
        let g: Vec<f64> = GRADS[(t - 1) % 3].iter().map(|&v| v as f64).collect();
        for i in 0..n {
            match rule {
                Rule::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    let (mu, gi) = (momentum as f64, g[i] + weight_decay as f64 * p[i]);
                    if mu == 0.0 {
                        p[i] -= lr * gi;
                    } else {
                        s1[i] = mu * s1[i] + gi;
                        p[i] -= lr * if nesterov { gi + mu * s1[i] } else { s1[i] };
                    }
                }
                Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                } => {
                    let (b1, b2, wd) = (beta1 as f64, beta2 as f64, weight_decay as f64);
                    let mut gi = g[i];
                    if decoupled {
                        p[i] *= 1.0 - lr * wd;
                    } else {
                        gi += wd * p[i];
                    }
                    s1[i] = b1 * s1[i] + (1.0 - b1) * gi;
                    s2[i] = b2 * s2[i] + (1.0 - b2) * gi * gi;
                    let m_hat = s1[i] / (1.0 - b1.powi(t as i32));
                    let v_hat = s2[i] / (1.0 - b2.powi(t as i32));
                    p[i] -= lr * m_hat / (v_hat.sqrt() + eps as f64);
                }
                Rule::RmsProp { rho, eps } => {
                    s1[i] = rho as f64 * s1[i] + (1.0 - rho as f64) * g[i] * g[i];
                    p[i] -= lr * g[i] / (s1[i].sqrt() + eps as f64);
                }
                Rule::Adagrad { eps, .. } => {
                    s1[i] += g[i] * g[i];
                    p[i] -= lr * g[i] / (s1[i].sqrt() + eps as f64);
                }
                Rule::Adadelta { rho, eps } => {
                    let (rho, eps) = (rho as f64, eps as f64);
                    s1[i] = rho * s1[i] + (1.0 - rho) * g[i] * g[i];
                    let delta = (s2[i] + eps).sqrt() / (s1[i] + eps).sqrt() * g[i];
                    s2[i] = rho * s2[i] + (1.0 - rho) * delta * delta;
                    p[i] -= lr * delta;
                }
            }
        }
    }
    p.iter().map(|&v| v as f32).collect()
}

fn run(rule: Rule, lr: f32, steps: usize, device: &Device, clip: Option<Clip>) -> Vec<f32> {
    let p = Tensor::from_vec(START.to_vec(), &[3], device)
        .unwrap()
        .requires_grad_();
    let mut opt = Optimizer::new(vec![p.clone()], rule, lr).unwrap();
    if let Some(c) = clip {
        opt = opt.with_clip(c).unwrap();
    }
    for t in 0..steps {
        opt.zero_grad();
        let c = Tensor::from_vec(GRADS[t % 3].to_vec(), &[3], device).unwrap();
        p.mul(&c).unwrap().sum().unwrap().backward().unwrap();
        opt.step().unwrap();
    }
    p.to_vec().unwrap()
}

fn rules() -> Vec<(&'static str, Rule, f32)> {
    vec![
        ("sgd", Rule::sgd(), 0.1),
        (
            "sgd+wd",
            Rule::Sgd {
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.01,
            },
            0.1,
        ),
        (
            "momentum",
            Rule::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            0.1,
        ),
        (
            "nesterov",
            Rule::Sgd {
                momentum: 0.9,
                nesterov: true,
                weight_decay: 0.001,
            },
            0.1,
        ),
        ("adam", Rule::adam(), 0.01),
        (
            "adam+l2",
            Rule::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-7,
                weight_decay: 0.1,
                decoupled: false,
            },
            0.01,
        ),
        ("adamw", Rule::adamw(0.1), 0.01),
        ("rmsprop", Rule::rmsprop(), 0.01),
        ("adagrad", Rule::adagrad(), 0.1),
        ("adadelta", Rule::adadelta(), 1.0),
    ]
}

#[test]
fn every_rule_matches_its_textbook_formula_for_one_and_several_steps() {
    let devices = common::devices();
    let mut failures = Vec::new();
    for device in &devices {
        for (name, rule, lr) in rules() {
            for steps in [1, 4] {
                let got = run(rule, lr, steps, device, None);
                let want = reference(rule, lr as f64, steps);
                if let Err(e) = check_close(
                    &format!("{name} {steps} steps on {device}"),
                    &got,
                    &want,
                    1e-5,
                    1e-5,
                ) {
                    failures.push(e);
                }
            }
        }
    }
    report(failures);
}

#[test]
fn first_steps_give_the_known_numbers() {
    // SGD: 1 − 0.1·0.5 = 0.95; −2 − 0.1·(−1) = −1.9; 0.5 − 0.1·2 = 0.3.
    assert_eq!(
        run(Rule::sgd(), 0.1, 1, &Device::Cpu, None),
        vec![0.95, -1.9, 0.3]
    );
    // Adam's first step moves each weight by lr·g/(|g| + ε/… ) ≈ lr against the sign of g.
    let adam = run(Rule::adam(), 0.01, 1, &Device::Cpu, None);
    report(
        check_close("adam step 1", &adam, &[0.99, -1.99, 0.49], 1e-6, 0.0)
            .err()
            .into_iter()
            .collect(),
    );
    // Adadelta's first step: Δ = √ε / √(0.05·g² + ε) · g ≈ √(ε/0.05)·sign(g) ≈ 1.414e-3.
    let ada = run(Rule::adadelta(), 1.0, 1, &Device::Cpu, None);
    let d = (1e-7f64 / 0.05).sqrt() as f32;
    report(
        check_close(
            "adadelta step 1",
            &ada,
            &[1.0 - d, -2.0 + d, 0.5 - d],
            1e-6,
            1e-3,
        )
        .err()
        .into_iter()
        .collect(),
    );
}

#[test]
fn clipping_by_norm_and_by_value() {
    let devices = common::devices();
    for device in &devices {
        // ‖(0.5, −1, 2)‖ = 2.2913; clipped to norm 1 the step is g / 2.2913.
        let got = run(Rule::sgd(), 1.0, 1, device, Some(Clip::Norm(1.0)));
        let norm = (0.25f32 + 1.0 + 4.0).sqrt();
        let want: Vec<f32> = START
            .iter()
            .zip(GRADS[0])
            .map(|(p, g)| p - g / norm)
            .collect();
        report(
            check_close("clip norm", &got, &want, 1e-6, 1e-5)
                .err()
                .into_iter()
                .collect(),
        );
        // A norm bound above the norm leaves the step alone.
        let got = run(Rule::sgd(), 1.0, 1, device, Some(Clip::Norm(10.0)));
        let want: Vec<f32> = START.iter().zip(GRADS[0]).map(|(p, g)| p - g).collect();
        report(
            check_close("clip norm (inactive)", &got, &want, 1e-6, 1e-5)
                .err()
                .into_iter()
                .collect(),
        );
        let got = run(Rule::sgd(), 1.0, 1, device, Some(Clip::Value(0.75)));
        report(
            check_close("clip value", &got, &[0.5, -1.25, -0.25], 1e-6, 1e-6)
                .err()
                .into_iter()
                .collect(),
        );
    }
}

#[test]
fn clipping_by_norm_across_devices_is_an_error() {
    let Some(gpu) = common::gpu() else { return };
    let on = |device: &Device| {
        let p = Tensor::from_vec(vec![1.0, 2.0], &[2], device)
            .unwrap()
            .requires_grad_();
        p.sum().unwrap().backward().unwrap();
        p
    };
    let (a, b) = (on(&Device::cpu()), on(&gpu));
    let mut opt = Optimizer::sgd(vec![a.clone(), b], 0.1)
        .unwrap()
        .with_clip(Clip::Norm(1.0))
        .unwrap();
    let err = opt.step().unwrap_err().to_string();
    assert!(err.contains("one device"), "{err}");
    // Nothing moved, and the failed step is not counted.
    assert_eq!((a.to_vec().unwrap(), opt.steps()), (vec![1.0, 2.0], 0));
}

#[test]
fn bad_hyperparameters_are_errors() {
    let p = || vec![Tensor::zeros(&[2], &Device::Cpu).unwrap().requires_grad_()];
    assert!(Optimizer::sgd(p(), f32::NAN).is_err());
    assert!(Optimizer::sgd(p(), -0.1).is_err());
    assert!(Optimizer::new(
        p(),
        Rule::Adam {
            beta1: 1.5,
            beta2: 0.9,
            eps: 1e-7,
            weight_decay: 0.0,
            decoupled: false
        },
        0.1
    )
    .is_err());
    assert!(Optimizer::new(
        p(),
        Rule::RmsProp {
            rho: 0.9,
            eps: -1.0
        },
        0.1
    )
    .is_err());
    assert!(Optimizer::sgd(vec![Tensor::zeros(&[2], &Device::Cpu).unwrap()], 0.1).is_err());
    assert!(Optimizer::sgd(p(), 0.1)
        .unwrap()
        .with_clip(Clip::Norm(0.0))
        .is_err());
    let mut opt = Optimizer::sgd(p(), 0.1).unwrap();
    assert!(opt.set_lr(f32::INFINITY).is_err());
    assert_eq!(opt.lr(), 0.1);
}

/// Parameters of awkward sizes after `steps` steps of `rule` on `device`: every third one
/// gets no gradient, and one tensor is listed twice (each listing steps it). Returns the
/// values and the dispatches of the last step.
fn run_many(
    rule: Rule,
    lr: f32,
    steps: usize,
    device: &Device,
    clip: Option<Clip>,
) -> (Vec<Vec<f32>>, u64) {
    let sizes: [&[usize]; 11] = [
        &[1],
        &[3],
        &[255],
        &[256],
        &[257],
        &[17, 13],
        &[1000],
        &[2, 3, 5],
        &[64, 33],
        &[7],
        &[300],
    ];
    let params: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(i, dims)| {
            Tensor::uniform(dims, -1.0, 1.0, i as u64, device)
                .unwrap()
                .requires_grad_()
        })
        .collect();
    let mut listed = params.clone();
    listed.push(params[4].clone());
    let mut opt = Optimizer::new(listed, rule, lr).unwrap();
    if let Some(clip) = clip {
        opt = opt.with_clip(clip).unwrap();
    }
    let mut dispatches = 0;
    for t in 0..steps {
        opt.zero_grad();
        let mut loss = Tensor::scalar(0.0, device).unwrap();
        for (i, p) in params.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
            let c = Tensor::uniform(p.dims(), -2.0, 2.0, (100 * t + i) as u64, device).unwrap();
            loss = loss.add(&p.mul(&c).unwrap().sum().unwrap()).unwrap();
        }
        loss.backward().unwrap();
        let count = || device.gpu_context().map_or(0, |c| c.stats().dispatches);
        let before = count();
        opt.step().unwrap();
        dispatches = count() - before;
    }
    let values = params.iter().map(|p| p.to_vec().unwrap()).collect();
    (values, dispatches)
}

#[test]
fn one_step_kernel_updates_many_tensors_as_the_cpu_does() {
    let Some(_) = common::gpu() else { return };
    // A device of its own, so that the dispatch count sees only this test's work.
    let gpu = Device::gpu_with(&wgnn::device::GpuOptions::default()).unwrap();
    let per_stage = gpu
        .gpu_context()
        .unwrap()
        .limits()
        .max_storage_buffers_per_shader_stage as usize;
    let mut failures = Vec::new();
    // The gradients' global norm is about 45 and most elements exceed 0.5 in size: both
    // bounds clip.
    let clips = [None, Some(Clip::Value(0.5)), Some(Clip::Norm(5.0))];
    for (name, rule, lr) in rules() {
        for clip in clips {
            let (want, _) = run_many(rule, lr, 3, &Device::cpu(), clip);
            let (got, dispatches) = run_many(rule, lr, 3, &gpu, clip);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let what = format!("{name} {clip:?} tensor {i}");
                if let Err(e) = check_close(&what, g, w, 1e-5, 1e-5) {
                    failures.push(e);
                }
            }
            // 9 listed tensors have gradients, as many as fit the adapter's bindings per
            // dispatch (one fewer buffer when clipping by norm, for its partial sums), up
            // to 8 (the last listing repeats the fifth's buffers, so it never shares the
            // fifth's dispatch). Clipping by norm adds one first pass per dispatch.
            let norm = matches!(clip, Some(Clip::Norm(_)));
            let fit = (per_stage - usize::from(norm)) / (2 + rule.state_names().len());
            let steps = 9usize.div_ceil(fit.min(8)) as u64;
            let expected = if norm { 2 * steps } else { steps };
            if dispatches != expected {
                failures.push(format!(
                    "{name} {clip:?}: {dispatches} dispatches per step, expected {expected}"
                ));
            }
        }
    }
    report(failures);
}
