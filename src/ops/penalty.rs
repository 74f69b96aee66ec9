//! The L1/L2 penalty of a tensor as one op: l1·Σ|x| + l2·Σx² is one reduction whose
//! summand applies the weights as it reads (shaders/reduce.wgsl, `OP` 2), and its
//! gradient g·(l1·sign x + 2·l2·x) one elementwise kernel. Composed from abs, mul, sum
//! and scalar ops the same penalty took seven dispatches forward and as many back.

use super::reduce::{gpu_sum_all, Summand};
use crate::autograd::record_penalty;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// CPU: l1·|v| + l2·v² summed in f64.
fn penalty_cpu(x: &[f32], l1: f32, l2: f32) -> f32 {
    let (l1, l2) = (f64::from(l1), f64::from(l2));
    x.iter()
        .map(|&v| {
            let v = f64::from(v);
            l1 * v.abs() + l2 * v * v
        })
        .sum::<f64>() as f32
}

/// `plus` (when given) plus the gradient of the penalty (`l1`, `l2`) of `x` for its
/// one-value output gradient `g`: plus + g·(l1·sign x + 2·l2·x), in one pass.
pub(crate) fn penalty_gradient(
    x: &Tensor,
    g: &Tensor,
    [l1, l2]: [f32; 2],
    plus: Option<&Tensor>,
) -> Result<Tensor> {
    match x.device() {
        Device::Cpu => {
            let scale = g.cpu_data()[0];
            let plus = plus.map(|p| p.cpu_data());
            let data = x
                .cpu_data()
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let sign = if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    let base = plus.as_ref().map_or(0.0, |p| p[i]);
                    base + scale * (l1 * sign + 2.0 * l2 * v)
                })
                .collect();
            Ok(Tensor::from_cpu(x.shape().clone(), data))
        }
        device @ Device::Gpu(ctx) => {
            let n = x.numel();
            let out = ctx.alloc(n, "penalty gradient")?;
            let mut reads = vec![x.gpu_buffer(), g.gpu_buffer()];
            reads.extend(plus.map(Tensor::gpu_buffer));
            let entry = if plus.is_some() {
                "penalty_backward_plus"
            } else {
                "penalty_backward"
            };
            ctx.dispatch(
                &Kernel::new("reduce", entry, reads.len() as u8, 1),
                &reads,
                &[&out],
                Params::new().u(n).u(0).u(0).f(1.0).f(l1).f(l2),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(x.shape().clone(), out, device))
        }
    }
}

/// `base` (one value, or none: 0) plus the penalty of `x`, without the tape.
fn penalty_value(x: &Tensor, l1: f32, l2: f32, base: Option<&Tensor>) -> Result<Tensor> {
    if !l1.is_finite() || !l2.is_finite() {
        return Err(Error::invalid(
            "l1_l2_penalty",
            format!("finite weights were expected, got l1 {l1} and l2 {l2}"),
        ));
    }
    if let Some(b) = base {
        Tensor::common_device("l1_l2_penalty", &[b, x])?;
        if b.numel() != 1 {
            return Err(Error::shape(
                "plus_l1_l2_penalty",
                "a one-value tensor to add the penalty to",
                format!("{}", b.shape()),
            ));
        }
    }
    let shape = base.map_or_else(Shape::default, |b| b.shape().clone());
    Ok(match x.device() {
        Device::Cpu => {
            let start = base.map_or(0.0, |b| b.cpu_data()[0]);
            Tensor::from_cpu(shape, vec![start + penalty_cpu(&x.cpu_data(), l1, l2)])
        }
        device @ Device::Gpu(ctx) => {
            let summand = Summand::Penalty { l1, l2 };
            let base = base.map(Tensor::gpu_buffer);
            let sum = gpu_sum_all(ctx, x.gpu_buffer(), x.numel(), summand, 1.0, base)?;
            Tensor::from_gpu(shape, sum, device)
        }
    })
}

impl Tensor {
    /// The L1/L2 penalty `l1·Σ|x| + l2·Σx²` of this tensor (rank 0), in one reduction;
    /// its gradient `l1·sign(x) + 2·l2·x` is one kernel too. Regularizers use it for
    /// weights and activities.
    ///
    /// ```
    /// # use wgnn::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0, -2.0], &[2], &Device::cpu())?.requires_grad_();
    /// let p = x.l1_l2_penalty(0.5, 0.25)?; // 0.5·3 + 0.25·5
    /// assert_eq!(p.to_vec()?, vec![2.75]);
    /// p.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec()?, vec![1.0, -1.5]);
    /// # Ok::<(), wgnn::Error>(())
    /// ```
    pub fn l1_l2_penalty(&self, l1: f32, l2: f32) -> Result<Tensor> {
        let out = penalty_value(self, l1, l2, None)?;
        // The tape computes the gradient on x where x's other gradients meet it.
        Ok(record_penalty(
            "l1_l2_penalty",
            out,
            &[self],
            (0, l1, l2),
            |_| Ok(vec![None]),
        ))
    }

    /// This one-value tensor (a loss) plus the L1/L2 penalty of `x`, in the penalty's
    /// one dispatch (no separate add): how `fit` adds regularization to its objective.
    /// Backward, the penalty's gradient costs no pass of its own when the layer that
    /// made `x` computes it inside its gradient products (a dense layer does).
    pub fn plus_l1_l2_penalty(&self, x: &Tensor, l1: f32, l2: f32) -> Result<Tensor> {
        let out = penalty_value(x, l1, l2, Some(self))?;
        let penalty = (1, l1, l2);
        Ok(record_penalty(
            "plus_l1_l2_penalty",
            out,
            &[self, x],
            penalty,
            |g| Ok(vec![Some(g.clone()), None]),
        ))
    }
}
