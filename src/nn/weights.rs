//! The trainable state shared by Linear and Conv2d: an initialised weight, an optional
//! zero bias (one per output), and an optional L1/L2 penalty on the weight.

use super::{seed::next_seed, Init, PenaltyTerm, Regularizer};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// A weight, its optional bias and its optional regulariser.
pub(crate) struct Weights {
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    regularizer: Option<Regularizer>,
}

impl Weights {
    /// A `dims` weight drawn by `init` (with the given fans) and, when `bias`, a zero
    /// bias of `outputs` values; both collect gradients.
    pub(crate) fn new(
        dims: &[usize],
        fan_in: usize,
        fan_out: usize,
        outputs: usize,
        init: Init,
        bias: bool,
        device: &Device,
    ) -> Result<Weights> {
        let weight = init
            .tensor(dims, fan_in, fan_out, next_seed(), device)?
            .requires_grad_();
        let bias = if bias {
            Some(Tensor::zeros(&[outputs], device)?.requires_grad_())
        } else {
            None
        };
        Ok(Weights {
            weight,
            bias,
            regularizer: None,
        })
    }

    /// Puts a validated L1/L2 penalty on the weight (not the bias).
    pub(crate) fn regularize(&mut self, r: Regularizer) -> Result<()> {
        r.validate()?;
        self.regularizer = Some(r);
        Ok(())
    }

    /// `weight` and, when present, `bias`, under those names.
    pub(crate) fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        out.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        out
    }

    /// The regulariser's penalty on the weight, if there is one.
    pub(crate) fn penalty_term(&self) -> Option<PenaltyTerm> {
        self.regularizer.map(|r| r.term(&self.weight, 1.0))
    }
}
