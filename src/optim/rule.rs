//! The update rules: hyperparameters, the fused GPU kernel of each (shaders/optim.wgsl)
//! and its CPU twin.

use super::Clip;
use crate::device::{Device, GpuBuffer, GpuContext, Kernel, Params};
use crate::error::{Error, Result};
use crate::ops::cpu::simd;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// An update rule with its hyperparameters. Defaults follow Keras (the course's
/// framework); every field is public to change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Gradient descent, with optional momentum, Nesterov momentum and L2 weight decay:
    /// v ← μv + g; p ← p − lr·(nesterov ? g + μv : v).
    Sgd {
        /// Momentum μ (0 = plain gradient descent).
        momentum: f32,
        /// Nesterov's look-ahead momentum.
        nesterov: bool,
        /// L2 weight decay added to the gradient.
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba) with bias correction; AdamW when `decoupled`.
    Adam {
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the root of the second moment.
        eps: f32,
        /// Weight decay: L2 on the gradient, or decoupled (AdamW).
        weight_decay: f32,
        /// Decoupled weight decay (AdamW): p ← p·(1 − lr·wd) before the Adam step.
        decoupled: bool,
    },
    /// RMSprop: v ← ρv + (1−ρ)g²; p ← p − lr·g/(√v + ε).
    RmsProp {
        /// Decay of the squared-gradient average.
        rho: f32,
        /// Added to the root.
        eps: f32,
    },
    /// Adagrad: s ← s + g²; p ← p − lr·g/(√s + ε).
    Adagrad {
        /// Added to the root.
        eps: f32,
        /// Starting value of the accumulator (Keras: 0.1).
        initial_accumulator: f32,
    },
    /// Adadelta (Zeiler): `E[g²] ← ρE[g²] + (1−ρ)g²; Δ = √(E[Δ²]+ε)/√(E[g²]+ε)·g;
    /// E[Δ²] ← ρE[Δ²] + (1−ρ)Δ²; p ← p − lr·Δ`.
    Adadelta {
        /// Decay of both running averages.
        rho: f32,
        /// Added inside both roots.
        eps: f32,
    },
}

impl Rule {
    /// Plain SGD.
    pub fn sgd() -> Rule {
        Rule::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with Keras' defaults (β1 0.9, β2 0.999, ε 1e-7).
    pub fn adam() -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW with the given decoupled weight decay.
    pub fn adamw(weight_decay: f32) -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay,
            decoupled: true,
        }
    }

    /// RMSprop with Keras' defaults (ρ 0.9, ε 1e-7).
    pub fn rmsprop() -> Rule {
        Rule::RmsProp {
            rho: 0.9,
            eps: 1e-7,
        }
    }

    /// Adagrad with Keras' defaults (ε 1e-7, initial accumulator 0.1).
    pub fn adagrad() -> Rule {
        Rule::Adagrad {
            eps: 1e-7,
            initial_accumulator: 0.1,
        }
    }

    /// Adadelta with Keras' defaults (ρ 0.95, ε 1e-7; use learning rate 1.0).
    pub fn adadelta() -> Rule {
        Rule::Adadelta {
            rho: 0.95,
            eps: 1e-7,
        }
    }

    /// Checks every hyperparameter is finite and in range.
    pub(crate) fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f32, lo: f32, hi: f32| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(Error::invalid(
                    "optimizer",
                    format!("{name} must be in [{lo}, {hi}], got {v}"),
                ))
            }
        };
        match *self {
            Rule::Sgd {
                momentum,
                weight_decay,
                ..
            } => {
                check("momentum", momentum, 0.0, 1.0)?;
                check("weight_decay", weight_decay, 0.0, f32::MAX)
            }
            Rule::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                check("beta1", beta1, 0.0, 0.999_999)?;
                check("beta2", beta2, 0.0, 0.999_999_9)?;
                check("eps", eps, 0.0, f32::MAX)?;
                check("weight_decay", weight_decay, 0.0, f32::MAX)
            }
            Rule::RmsProp { rho, eps } | Rule::Adadelta { rho, eps } => {
                check("rho", rho, 0.0, 1.0)?;
                check("eps", eps, 0.0, f32::MAX)
            }
            Rule::Adagrad {
                eps,
                initial_accumulator,
            } => {
                check("eps", eps, 0.0, f32::MAX)?;
                check("initial_accumulator", initial_accumulator, 0.0, f32::MAX)
            }
        }
    }

    /// State tensors one parameter needs (zeros, or Adagrad's initial accumulator).
    /// The names of the state tensors this rule keeps per parameter, in order (PyTorch's
    /// names where it has them); checkpoints store them as `<parameter>.<name>`.
    pub fn state_names(&self) -> &'static [&'static str] {
        match *self {
            Rule::Sgd { momentum: 0.0, .. } => &[],
            Rule::Sgd { .. } => &["momentum_buffer"],
            Rule::RmsProp { .. } => &["square_avg"],
            Rule::Adam { .. } => &["exp_avg", "exp_avg_sq"],
            Rule::Adadelta { .. } => &["square_avg", "acc_delta"],
            Rule::Adagrad { .. } => &["sum"],
        }
    }

    pub(crate) fn new_state(&self, param: &Tensor) -> Result<Vec<Tensor>> {
        let zeros = || Tensor::zeros(param.dims(), param.device());
        match *self {
            Rule::Sgd { momentum: 0.0, .. } => Ok(vec![]),
            Rule::Sgd { .. } | Rule::RmsProp { .. } => Ok(vec![zeros()?]),
            Rule::Adam { .. } | Rule::Adadelta { .. } => Ok(vec![zeros()?, zeros()?]),
            Rule::Adagrad {
                initial_accumulator,
                ..
            } => Ok(vec![Tensor::full(
                param.dims(),
                initial_accumulator,
                param.device(),
            )?]),
        }
    }

    /// (RULE code of shaders/optim.wgsl, hyperparameter words h1..h4, c1, c2) for step
    /// `t` (from 1).
    fn kernel_args(&self, t: u64) -> (u32, [f32; 6]) {
        match *self {
            Rule::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => (
                u32::from(momentum != 0.0),
                [
                    momentum,
                    weight_decay,
                    nesterov as u32 as f32,
                    0.0,
                    0.0,
                    0.0,
                ],
            ),
            Rule::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                let c1 = 1.0 / (1.0 - (beta1 as f64).powf(t as f64)) as f32;
                let c2 = 1.0 / (1.0 - (beta2 as f64).powf(t as f64)) as f32;
                (2, [beta1, beta2, eps, weight_decay, c1, c2])
            }
            Rule::RmsProp { rho, eps } => (3, [rho, eps, 0.0, 0.0, 0.0, 0.0]),
            Rule::Adagrad { eps, .. } => (4, [0.0, eps, 0.0, 0.0, 0.0, 0.0]),
            Rule::Adadelta { rho, eps } => (5, [rho, eps, 0.0, 0.0, 0.0, 0.0]),
        }
    }

    /// Updates every parameter of `updates` (and its state) in place, at step `t` (from
    /// 1), their gradients clipped first when `clip` says so. On a GPU, one dispatch
    /// serves up to eight tensors of one device; clipping by norm adds one first pass per
    /// dispatch (the partial sums of squares), so the norm never leaves the device.
    pub(crate) fn apply(
        &self,
        updates: &[Update],
        lr: f32,
        t: u64,
        clip: Option<Clip>,
    ) -> Result<()> {
        let (code, h) = self.kernel_args(t);
        let norm = matches!(clip, Some(Clip::Norm(_)));
        if norm {
            one_device(updates)?;
        }
        let chunks = self.chunks(updates, norm);
        let partials = match (clip, updates.first().map(|u| u.param.device())) {
            (Some(Clip::Norm(_)), Some(Device::Gpu(ctx))) => {
                Some(self.record_partial_squares(ctx, &chunks)?)
            }
            _ => None,
        };
        let clipping = match clip {
            None => Clipping::None,
            Some(Clip::Value(v)) => Clipping::Value(v),
            Some(Clip::Norm(max)) => match &partials {
                Some((buffer, count)) => Clipping::Partials {
                    inverse_max: 1.0 / max,
                    buffer,
                    count: *count,
                },
                None => Clipping::Scale(cpu_norm_scale(updates, 1.0 / max)),
            },
        };
        for chunk in chunks {
            match chunk[0].param.device() {
                Device::Gpu(ctx) => self.dispatch_step(ctx, chunk, code, lr, &h, clipping),
                Device::Cpu => self.apply_cpu(&chunk[0], lr, &h, clipping),
            }
        }
        Ok(())
    }

    /// `updates` cut into what one kernel updates: one tensor on the CPU, a dispatch's
    /// group on a GPU (as many as its bindings allow, up to eight, no buffer twice).
    fn chunks<'u, 'a>(&self, updates: &'u [Update<'a>], norm: bool) -> Vec<&'u [Update<'a>]> {
        let mut chunks = Vec::new();
        let mut rest = updates;
        while let Some(first) = rest.first() {
            let size = match first.param.device() {
                Device::Cpu => 1,
                Device::Gpu(ctx) => {
                    // A grad and a parameter buffer per tensor, its state buffers, and
                    // the partial sums when clipping by norm.
                    let limit = ctx.limits().max_storage_buffers_per_shader_stage as usize;
                    let fit = (limit - usize::from(norm)) / (2 + self.state_names().len());
                    gpu_group(rest, fit.clamp(1, super::kernel::MAX_TENSORS))
                }
            };
            chunks.push(&rest[..size]);
            rest = &rest[size..];
        }
        chunks
    }

    /// Records the first pass of clipping by norm for every chunk (all on `ctx`): partial
    /// sums of the gradients' squares, side by side in one buffer. Returns the buffer and
    /// how many partial sums it holds.
    fn record_partial_squares(
        &self,
        ctx: &GpuContext,
        chunks: &[&[Update]],
    ) -> Result<(GpuBuffer, usize)> {
        let workgroups: Vec<usize> = chunks
            .iter()
            .map(|chunk| blocks_of(chunk).min(super::kernel::NORM_WORKGROUPS))
            .collect();
        let count = workgroups.iter().sum();
        let partials = ctx.alloc(count, "gradient norm partial sums")?;
        let mut first = 0;
        for (chunk, groups) in chunks.iter().zip(workgroups) {
            let (reads, writes) = self.step_buffers(chunk, Some(&partials));
            let kernel = Kernel::new(
                super::kernel::family(chunk.len(), self.state_names().len(), true),
                "partial_squares",
                reads.len() as u8,
                writes.len() as u8,
            );
            let params = lens_and_clip(Params::new().u(0).f(0.0), &[0.0; 6], chunk, 0.0)
                .u(0)
                .u(first)
                .flops(2 * values_of(chunk));
            ctx.dispatch(&kernel, &reads, &writes, params, [groups as u32, 1, 1]);
            first += groups;
        }
        Ok((partials, count))
    }

    /// The buffers of a step dispatch over `updates`: the gradients (read), then each
    /// parameter and its state, then the norm's partial sums if any (read-write).
    fn step_buffers<'b>(
        &self,
        updates: &'b [Update],
        partials: Option<&'b GpuBuffer>,
    ) -> (Vec<&'b GpuBuffer>, Vec<&'b GpuBuffer>) {
        let grads = updates.iter().map(|u| u.grad.gpu_buffer()).collect();
        let mut writes = Vec::with_capacity(updates.len() * (1 + self.state_names().len()) + 1);
        for u in updates {
            writes.push(u.param.gpu_buffer());
            writes.extend(u.state.iter().map(Tensor::gpu_buffer));
        }
        writes.extend(partials);
        (grads, writes)
    }

    /// Records one step kernel for `updates` (all on `ctx`, no buffer twice).
    fn dispatch_step(
        &self,
        ctx: &GpuContext,
        updates: &[Update],
        code: u32,
        lr: f32,
        h: &[f32; 6],
        clipping: Clipping,
    ) {
        let decoupled = matches!(
            self,
            Rule::Adam {
                decoupled: true,
                ..
            }
        );
        let (mode, bound, partials, count) = match clipping {
            Clipping::None | Clipping::Scale(_) => (0, 0.0, None, 0),
            Clipping::Value(v) => (1, v, None, 0),
            Clipping::Partials {
                inverse_max,
                buffer,
                count,
            } => (2, inverse_max, Some(buffer), count),
        };
        let (reads, writes) = self.step_buffers(updates, partials);
        let blocks = blocks_of(updates);
        let params = lens_and_clip(Params::new().u(blocks).f(lr), h, updates, bound)
            .u(count)
            .u(0)
            .flops(STEP_FLOPS_PER_VALUE * values_of(updates));
        let kernel = Kernel::new(
            super::kernel::family(updates.len(), self.state_names().len(), partials.is_some()),
            "step",
            reads.len() as u8,
            writes.len() as u8,
        );
        ctx.dispatch(
            &kernel
                .with("RULE", code)
                .with("DECOUPLED", decoupled as u32)
                .with("CLIP", mode),
            &reads,
            &writes,
            params,
            ctx.groups_1d(blocks, 1),
        );
    }

    /// The CPU update of one parameter and its state.
    fn apply_cpu(&self, update: &Update, lr: f32, h: &[f32; 6], clipping: Clipping) {
        // Each arm rebuilds its rule inside the closure, so that `update`'s match folds
        // away and the element loop vectorises (one match per element cost more than the
        // arithmetic: 28% of a CPU MLP step, session 11; one closure capturing a copy of
        // `*self` kept the loop scalar, 410-440 µs per MLP step against 38-39 µs for these
        // arms, session 15).
        let (scale, bound) = clipping.cpu_scale_and_bound();
        // Not `f32::clamp`: its check that the bounds are ordered stays in the loop and
        // keeps it scalar. A NaN gradient stays NaN.
        let clip = move |g: f32| {
            let g = g * scale;
            if g.abs() > bound {
                bound.copysign(g)
            } else {
                g
            }
        };
        match *self {
            Rule::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => cpu_elementwise(update, move |p, g, a, b| {
                let rule = Rule::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                };
                rule.update(p, clip(g), a, b, lr, h)
            }),
            Rule::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => cpu_elementwise(update, move |p, g, a, b| {
                let rule = Rule::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                };
                rule.update(p, clip(g), a, b, lr, h)
            }),
            Rule::RmsProp { rho, eps } => cpu_elementwise(update, move |p, g, a, b| {
                Rule::RmsProp { rho, eps }.update(p, clip(g), a, b, lr, h)
            }),
            Rule::Adagrad {
                eps,
                initial_accumulator,
            } => cpu_elementwise(update, move |p, g, a, b| {
                let rule = Rule::Adagrad {
                    eps,
                    initial_accumulator,
                };
                rule.update(p, clip(g), a, b, lr, h)
            }),
            Rule::Adadelta { rho, eps } => cpu_elementwise(update, move |p, g, a, b| {
                Rule::Adadelta { rho, eps }.update(p, clip(g), a, b, lr, h)
            }),
        }
    }

    /// The CPU twin of one element's update: (param, state1, state2) after the step.
    #[inline(always)]
    fn update(&self, p: f32, g: f32, s1: f32, s2: f32, lr: f32, h: &[f32; 6]) -> (f32, f32, f32) {
        match *self {
            Rule::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let g = g + weight_decay * p;
                if momentum == 0.0 {
                    return (p - lr * g, s1, s2);
                }
                let v = momentum * s1 + g;
                let d = if nesterov { g + momentum * v } else { v };
                (p - lr * d, v, s2)
            }
            Rule::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => {
                let (p, g) = if decoupled {
                    (p * (1.0 - lr * weight_decay), g)
                } else {
                    (p, g + weight_decay * p)
                };
                let m = beta1 * s1 + (1.0 - beta1) * g;
                let v = beta2 * s2 + (1.0 - beta2) * g * g;
                (p - lr * (m * h[4]) / ((v * h[5]).sqrt() + eps), m, v)
            }
            Rule::RmsProp { rho, eps } => {
                let v = rho * s1 + (1.0 - rho) * g * g;
                (p - lr * g / (v.sqrt() + eps), v, s2)
            }
            Rule::Adagrad { eps, .. } => {
                let s = s1 + g * g;
                (p - lr * g / (s.sqrt() + eps), s, s2)
            }
            Rule::Adadelta { rho, eps } => {
                let eg = rho * s1 + (1.0 - rho) * g * g;
                let delta = (s2 + eps).sqrt() / (eg + eps).sqrt() * g;
                (p - lr * delta, eg, rho * s2 + (1.0 - rho) * delta * delta)
            }
        }
    }
}

/// One parameter to update: its gradient and its state tensors.
#[derive(Clone, Copy)]
pub(crate) struct Update<'a> {
    pub(crate) param: &'a Tensor,
    pub(crate) grad: &'a Tensor,
    pub(crate) state: &'a [Tensor],
}

/// How a step clips the gradients it reads.
#[derive(Clone, Copy)]
enum Clipping<'a> {
    /// As they are.
    None,
    /// Each element clamped to [−v, v].
    Value(f32),
    /// Multiplied by this factor (the CPU's clipping by norm).
    Scale(f32),
    /// Scaled by 1 / max(norm · `inverse_max`, 1), the norm from `count` partial sums of
    /// squares in `buffer` (the GPU's clipping by norm).
    Partials {
        inverse_max: f32,
        buffer: &'a GpuBuffer,
        count: usize,
    },
}

impl Clipping<'_> {
    /// The CPU twin of shaders/optim.wgsl's `clipped` as numbers: a gradient element
    /// becomes clamp(g · scale, −bound, bound).
    fn cpu_scale_and_bound(self) -> (f32, f32) {
        match self {
            Clipping::Value(v) => (1.0, v),
            Clipping::Scale(factor) => (factor, f32::INFINITY),
            Clipping::None | Clipping::Partials { .. } => (1.0, f32::INFINITY),
        }
    }
}

/// Runs `f(param, grad, state1, state2) -> (param, state1, state2)` over every element of
/// `update`, in parallel chunks; a missing state reads as 0 and is not written.
fn cpu_elementwise(
    update: &Update,
    f: impl Fn(f32, f32, f32, f32) -> (f32, f32, f32) + Sync + Copy,
) {
    let Update { param, grad, state } = *update;
    let mut p = param.0.storage.cpu_write();
    let g = grad.cpu_data();
    let mut s: Vec<_> = state.iter().map(|t| t.0.storage.cpu_write()).collect();
    let grain = crate::ops::cpu::GRAIN;
    let params = p.par_chunks_mut(grain).zip(g.par_chunks(grain));
    // One loop per number of states, each over slices of one length, so that the
    // compiler sees no bounds checks and no per-element state tests; each compiled for
    // AVX2 where the CPU has it, with its own copy of `f` (its captures read through a
    // pointer were reloaded per element and kept the loop scalar).
    match s.as_mut_slice() {
        [] => params.for_each(|(p, g)| {
            simd(move || {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p = f(*p, g, 0.0, 0.0).0;
                }
            })
        }),
        [s1] => params
            .zip(s1.par_chunks_mut(grain))
            .for_each(|((p, g), s1)| {
                simd(move || {
                    for ((p, &g), a) in p.iter_mut().zip(g).zip(s1) {
                        (*p, *a, _) = f(*p, g, *a, 0.0);
                    }
                })
            }),
        [s1, s2, ..] => params
            .zip(s1.par_chunks_mut(grain).zip(s2.par_chunks_mut(grain)))
            .for_each(|((p, g), (s1, s2))| {
                simd(move || {
                    for (((p, &g), a), b) in p.iter_mut().zip(g).zip(s1).zip(s2) {
                        (*p, *a, *b) = f(*p, g, *a, *b);
                    }
                })
            }),
    }
}

/// The factor clipping by norm scales CPU gradients by: 1 / max(‖g‖ · `inverse_max`, 1),
/// ‖g‖ the L2 norm of all of them together.
fn cpu_norm_scale(updates: &[Update], inverse_max: f32) -> f32 {
    let squares: f64 = updates
        .iter()
        .map(|u| {
            let g = u.grad.cpu_data();
            g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>()
        })
        .sum();
    1.0 / ((squares.sqrt() as f32) * inverse_max).max(1.0)
}

/// Errors unless every parameter of `updates` is on the first one's device (clipping by
/// norm needs all the gradients in one place).
fn one_device(updates: &[Update]) -> Result<()> {
    let Some(first) = updates.first() else {
        return Ok(());
    };
    let device = first.param.device();
    match updates.iter().find(|u| !u.param.device().same_as(device)) {
        None => Ok(()),
        Some(other) => Err(Error::invalid(
            "optimizer",
            format!(
                "clipping by global norm needs every parameter on one device, got {} and {}",
                device.label(),
                other.param.device().label()
            ),
        )),
    }
}

/// Workgroups of 256 the step over `updates` takes: each tensor's rounded up.
/// Operations per parameter value of a step kernel, as declared to the launch log (Adam's
/// update, the most: two moments, a square root, a division, the step).
const STEP_FLOPS_PER_VALUE: usize = 12;

/// Parameter values in `updates`.
fn values_of(updates: &[Update]) -> usize {
    updates.iter().map(|u| u.param.numel()).sum()
}

fn blocks_of(updates: &[Update]) -> usize {
    updates
        .iter()
        .map(|u| u.param.numel().div_ceil(crate::ops::WORKGROUP))
        .sum()
}

/// `params` (the `n` and `lr` words) followed by the rule's words `h`, the tensors'
/// lengths and the clipping bound: the kernel's Params up to `partial_count`.
fn lens_and_clip(mut params: Params, h: &[f32; 6], updates: &[Update], clip: f32) -> Params {
    for v in h {
        params = params.f(*v);
    }
    for slot in 0..super::kernel::MAX_TENSORS {
        params = params.u(updates.get(slot).map_or(0, |u| u.param.numel()));
    }
    params.f(clip)
}

/// How many of the leading `updates` (the first on a GPU) one step dispatch takes: at most
/// `max`, all on the first one's device, and no buffer bound twice.
fn gpu_group(updates: &[Update], max: usize) -> usize {
    let device = updates[0].param.device();
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    for u in updates.iter().take(max) {
        if !u.param.device().same_as(device) {
            break;
        }
        let mut ids = vec![u.grad.gpu_buffer().id(), u.param.gpu_buffer().id()];
        ids.extend(u.state.iter().map(|s| s.gpu_buffer().id()));
        if ids.iter().any(|id| seen.contains(id)) {
            break;
        }
        seen.extend(ids);
        count += 1;
    }
    count.max(1)
}
