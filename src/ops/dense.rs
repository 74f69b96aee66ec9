//! The dense layer as one op: `Tensor::linear` (product, bias, activation, and optionally
//! the dropout after it, in one GEMM's output stage) and its backward through the gated
//! GEMMs of src/ops/matmul.rs, which read dy ⊙ act'(z) (and a deferred activity
//! penalty's gradient, and the dropout mask) as they load it, act' taken from the layer's
//! output or, for SiLU and GELU, from the pre-activation z the forward kernel also kept.

use super::matmul::{forward_with, Finish, Gate};
use super::unary::Epilogue;
use crate::autograd::{record_absorbing, will_record};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Tensor {
    /// A dense layer in one kernel: `epilogue(self · weightᵀ + bias)` for an (N, in)
    /// input, an (out, in) weight and an optional (out) bias, giving (N, out). The bias
    /// and the activation are applied as the product is stored (one GPU dispatch, one
    /// pass on the CPU); backward turns dy into the pre-activation gradient from the
    /// output alone (from the pre-activation, which the kernel then also stores, for SiLU
    /// and GELU), then takes the three products' gradients.
    pub fn linear(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        epilogue: Option<Epilogue>,
    ) -> Result<Tensor> {
        self.dense(weight, bias, epilogue, None)
    }

    /// [`Tensor::linear`] followed by `dropout(p, seed)` ([`Tensor::dropout`]'s mask), in
    /// the same kernel: one GPU dispatch forward; backward, the mask is made again inside
    /// the gradient products.
    pub fn linear_dropout(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        epilogue: Option<Epilogue>,
        p: f32,
        seed: u64,
    ) -> Result<Tensor> {
        super::random::check_p(p)?;
        self.dense(weight, bias, epilogue, (p > 0.0).then_some((p, seed)))
    }

    fn dense(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        epilogue: Option<Epilogue>,
        dropout: Option<(f32, u64)>,
    ) -> Result<Tensor> {
        const OP: &str = "linear";
        let mut operands = vec![self, weight];
        operands.extend(bias);
        Tensor::common_device(OP, &operands)?;
        let (&[n, inputs], &[outputs, weight_inputs]) = (self.dims(), weight.dims()) else {
            return Err(Error::shape(
                OP,
                "a 2-D input (N, in) and a 2-D weight (out, in)",
                format!("input {}, weight {}", self.shape(), weight.shape()),
            ));
        };
        if inputs != weight_inputs {
            return Err(Error::shape(
                OP,
                format!(
                    "a weight with {inputs} columns, as the input {}",
                    self.shape()
                ),
                format!("{}", weight.shape()),
            ));
        }
        if let Some(b) = bias.filter(|b| b.dims() != [outputs]) {
            return Err(Error::shape(
                OP,
                format!("a bias of shape [{outputs}]"),
                format!("{}", b.shape()),
            ));
        }
        // An activation that saves its input (SiLU, GELU) has the kernel keep z as well,
        // when there will be a backward to read it.
        let keep_input = epilogue.is_some_and(|e| e.saves_input()) && will_record(&operands);
        let dense = Finish::Dense {
            bias,
            epilogue,
            dropout,
            keep_input,
        };
        let (out, z) = forward_with(self, weight, false, true, dense)?;
        debug_assert_eq!(out.dims(), [n, outputs]);
        let (x, w, y) = (self.detach(), weight.detach(), out.clone());
        let needs = [
            self.requires_grad(),
            weight.requires_grad(),
            bias.is_some_and(Tensor::requires_grad),
        ];
        Ok(record_absorbing(OP, out, &operands, move |dy, penalty| {
            // dz = (dy + penalty'(y)) ⊙ act'(z). A GPU gates dy inside each product that
            // reads it (the penalty's gradient too, when its upstream gradient is
            // backward's seed of one); the CPU computes dz once.
            let gpu = dy.device().is_gpu();
            let absorbed = penalty.filter(|p| gpu && p.upstream.is_unit_seed());
            let dy = match penalty {
                Some(p) if absorbed.is_none() => p.gradient(&y, Some(dy))?,
                _ => dy.clone(),
            };
            let gate = Gate {
                output: &y,
                input: z.as_ref(),
                epilogue,
                penalty: absorbed.map_or([0.0; 2], |p| [p.l1, p.l2]),
                dropout,
            };
            let (dz, gate) = if !gpu {
                (gate.apply(&dy)?, None)
            } else if epilogue.is_some() || absorbed.is_some() || dropout.is_some() {
                (dy, Some(gate))
            } else {
                (dy, None)
            };
            let dx = needs[0]
                .then(|| forward_with(&dz, &w, false, false, Finish::Plain { gate }))
                .transpose()?
                .map(|(dx, _)| dx);
            let (dw, db) = match needs {
                [_, true, true] => {
                    let (dw, db) = forward_with(&dz, &x, true, false, Finish::RowSums { gate })?;
                    (Some(dw), db)
                }
                [_, true, false] => {
                    let (dw, _) = forward_with(&dz, &x, true, false, Finish::Plain { gate })?;
                    (Some(dw), None)
                }
                _ => {
                    let dz = match gate {
                        Some(g) => g.apply(&dz)?,
                        None => dz,
                    };
                    (None, needs[2].then(|| dz.sum_axis(0, false)).transpose()?)
                }
            };
            Ok(vec![dx, dw, db])
        }))
    }
}
