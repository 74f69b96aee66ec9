//! Optimizers: SGD (momentum, Nesterov, weight decay), Adam, AdamW, RMSprop, Adagrad,
//! Adadelta; learning-rate schedules; gradient clipping. On a GPU each step is one fused
//! kernel for up to eight parameter tensors at once (a model of eight or fewer is one
//! dispatch), the state kept on the parameters' device; clipping happens inside it (by
//! norm, after one first pass per dispatch that sums the gradients' squares).

mod kernel;
mod rule;
mod schedule;

pub(crate) use kernel::{source as step_kernel_source, MAX_STEP_BINDINGS};

pub use rule::Rule;
use rule::Update;
pub use schedule::Schedule;

use crate::autograd::NoGradGuard;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Gradient clipping applied before each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// Scale all gradients together so their global L2 norm is at most this.
    Norm(f32),
    /// Clamp every gradient element to [−v, v].
    Value(f32),
}

/// Updates a set of parameters from their gradients with one [`Rule`].
///
/// ```
/// use wgnn::optim::{Clip, Optimizer, Rule};
/// use wgnn::{Device, Tensor};
///
/// # fn main() -> wgnn::Result<()> {
/// let device = Device::cpu();
/// let w = Tensor::from_vec(vec![3.0], &[1], &device)?.requires_grad_();
/// // SGD with Nesterov momentum; Optimizer::adam, ::adadelta, ... for the others.
/// let rule = Rule::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 };
/// let mut opt = Optimizer::new(vec![w.clone()], rule, 0.1)?.with_clip(Clip::Norm(10.0))?;
/// for _ in 0..100 {
///     opt.zero_grad();
///     w.mul(&w)?.sum()?.backward()?; // minimise w²
///     opt.step()?;
/// }
/// assert!(w.item()?.abs() < 1e-2);
/// # Ok(())
/// # }
/// ```
pub struct Optimizer {
    rule: Rule,
    lr: f32,
    params: Vec<Tensor>,
    state: Vec<Option<Vec<Tensor>>>,
    steps: u64,
    clip: Option<Clip>,
}

fn check_lr(lr: f32) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "optimizer",
            format!("the learning rate must be finite and >= 0, got {lr}"),
        ))
    }
}

impl Optimizer {
    /// An optimizer over `params` (leaves that require grad) with a rule and learning rate.
    pub fn new(params: Vec<Tensor>, rule: Rule, lr: f32) -> Result<Self> {
        rule.validate()?;
        check_lr(lr)?;
        if let Some(i) = params.iter().position(|p| !p.requires_grad()) {
            return Err(Error::invalid(
                "optimizer",
                format!("parameter {i} does not require grad: mark it with requires_grad_()"),
            ));
        }
        let state = params.iter().map(|_| None).collect();
        Ok(Optimizer {
            rule,
            lr,
            params,
            state,
            steps: 0,
            clip: None,
        })
    }

    /// SGD (add momentum with [`Rule::Sgd`] through [`Optimizer::new`]).
    pub fn sgd(params: Vec<Tensor>, lr: f32) -> Result<Self> {
        Optimizer::new(params, Rule::sgd(), lr)
    }

    /// Adam with Keras' defaults.
    pub fn adam(params: Vec<Tensor>, lr: f32) -> Result<Self> {
        Optimizer::new(params, Rule::adam(), lr)
    }

    /// AdamW (decoupled weight decay) with Keras' other defaults.
    pub fn adamw(params: Vec<Tensor>, lr: f32, weight_decay: f32) -> Result<Self> {
        Optimizer::new(params, Rule::adamw(weight_decay), lr)
    }

    /// RMSprop with Keras' defaults (lr 1e-3, ρ 0.9).
    pub fn rmsprop(params: Vec<Tensor>) -> Result<Self> {
        Optimizer::new(params, Rule::rmsprop(), 1e-3)
    }

    /// Adagrad with Keras' defaults (lr 1e-3, initial accumulator 0.1).
    pub fn adagrad(params: Vec<Tensor>) -> Result<Self> {
        Optimizer::new(params, Rule::adagrad(), 1e-3)
    }

    /// Adadelta with Keras' defaults (lr 1.0, ρ 0.95), as the course's CNN uses it.
    pub fn adadelta(params: Vec<Tensor>) -> Result<Self> {
        Optimizer::new(params, Rule::adadelta(), 1.0)
    }

    /// Clips gradients before every step.
    pub fn with_clip(mut self, clip: Clip) -> Result<Self> {
        let (Clip::Norm(v) | Clip::Value(v)) = clip;
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::invalid(
                "optimizer",
                format!("a clipping bound must be finite and > 0, got {v}"),
            ));
        }
        self.clip = Some(clip);
        Ok(self)
    }

    /// The update rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The current learning rate.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Sets the learning rate (schedules call this).
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The parameters.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The state tensors of each parameter (empty before its first step).
    pub fn state(&self) -> Vec<Vec<Tensor>> {
        self.state
            .iter()
            .map(|s| s.clone().unwrap_or_default())
            .collect()
    }

    /// The state tensors of every parameter, creating the starting state of those that
    /// have not stepped yet (which is what their first step would create). The tensors are
    /// the optimizer's own: copying into them sets its state.
    pub fn full_state(&mut self) -> Result<Vec<Vec<Tensor>>> {
        for (param, state) in self.params.iter().zip(self.state.iter_mut()) {
            started(self.rule, param, state)?;
        }
        Ok(self.state())
    }

    /// Sets the count of steps taken (Adam's bias correction and schedules use it), as
    /// when resuming from a checkpoint.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// Forgets every parameter's gradient.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }

    /// Updates every parameter that has a gradient, in place, without waiting for the GPU.
    pub fn step(&mut self) -> Result<()> {
        let device = self.params.first().map_or("cpu", |p| p.device().label());
        crate::profile::timed(["optimizer step", ""], device, || self.step_now())
    }

    fn step_now(&mut self) -> Result<()> {
        let _no_grad = NoGradGuard::new();
        let grads: Vec<Option<Tensor>> = self.params.iter().map(Tensor::grad).collect();
        let t = self.steps + 1;
        for ((param, grad), state) in self.params.iter().zip(&grads).zip(self.state.iter_mut()) {
            if grad.is_some() {
                started(self.rule, param, state)?;
            }
        }
        let updates: Vec<Update> = self
            .params
            .iter()
            .zip(&grads)
            .zip(&self.state)
            .filter_map(|((param, grad), state)| {
                Some(Update {
                    param,
                    grad: grad.as_ref()?,
                    state: state.as_deref().unwrap_or_default(),
                })
            })
            .collect();
        self.rule.apply(&updates, self.lr, t, self.clip)?;
        self.steps = t;
        Ok(())
    }
}

/// A parameter's state, created by `rule` when it has none yet.
fn started<'a>(
    rule: Rule,
    param: &Tensor,
    state: &'a mut Option<Vec<Tensor>>,
) -> Result<&'a [Tensor]> {
    if state.is_none() {
        *state = Some(rule.new_state(param)?);
    }
    Ok(state.as_deref().unwrap_or_default())
}

/// Clipped copies of the gradients (on their device, without reading them back), for a
/// hand-written update. [`Optimizer::with_clip`] does the same inside its step instead,
/// without the copies: one first pass per step dispatch by norm, none by value.
pub fn clip_grads(grads: Vec<Option<Tensor>>, clip: Clip) -> Result<Vec<Option<Tensor>>> {
    match clip {
        Clip::Value(v) => grads
            .into_iter()
            .map(|g| g.map(|g| g.clamp(-v, v)).transpose())
            .collect(),
        Clip::Norm(max_norm) => {
            let mut total: Option<Tensor> = None;
            for g in grads.iter().flatten() {
                let squares = g.mul(g)?.sum()?;
                total = Some(match total {
                    Some(t) => t.add(&squares)?,
                    None => squares,
                });
            }
            let Some(total) = total else { return Ok(grads) };
            // factor = 1 / max(norm / max_norm, 1)
            let factor = total
                .sqrt()?
                .mul_scalar(1.0 / max_norm)?
                .clamp(1.0, f32::MAX)?
                .powf(-1.0)?;
            grads
                .into_iter()
                .map(|g| g.map(|g| g.mul(&factor)).transpose())
                .collect()
        }
    }
}
