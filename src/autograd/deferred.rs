//! Penalty gradients the tape defers. An L1/L2 penalty's gradient on the tensor x it
//! penalises, g·(l1·sign x + 2·l2·x), is elementwise in x: rather than a pass of its own
//! and another to add it to x's other gradients, the tape carries it to x's turn, where
//! the rule that made x computes it inside its own kernels (a dense layer's gated
//! gradient products do), or it is folded into x's gradient in one pass.

use crate::error::Result;
use crate::tensor::Tensor;

/// The gradient `upstream · (l1·sign x + 2·l2·x)` of an L1/L2 penalty on a tensor x,
/// not yet computed.
pub(crate) struct DeferredPenalty {
    pub(crate) l1: f32,
    pub(crate) l2: f32,
    /// The penalty's own (one-value) gradient.
    pub(crate) upstream: Tensor,
}

impl DeferredPenalty {
    /// `plus` (when given) plus this penalty's gradient on `x`, in one pass.
    pub(crate) fn gradient(&self, x: &Tensor, plus: Option<&Tensor>) -> Result<Tensor> {
        crate::ops::penalty_gradient(x, &self.upstream, [self.l1, self.l2], plus)
    }
}

/// `grad` plus the gradients of `penalties` on `x`, one pass per penalty.
pub(super) fn fold(
    x: &Tensor,
    grad: Option<Tensor>,
    penalties: &[DeferredPenalty],
) -> Result<Option<Tensor>> {
    penalties
        .iter()
        .try_fold(grad, |grad, p| Ok(Some(p.gradient(x, grad.as_ref())?)))
}
