//! Losses by name and the metrics that go with them, computed on the device.

use crate::error::Result;
use crate::tensor::Tensor;

/// The training objective, from the model's raw outputs (logits for classification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax cross-entropy against integer labels (N); metric: accuracy.
    CrossEntropy,
    /// Sigmoid binary cross-entropy against 0/1 targets (N, 1); metric: binary accuracy.
    BinaryCrossEntropy,
    /// Mean squared error; no accuracy.
    MeanSquaredError,
    /// Mean absolute error; no accuracy.
    MeanAbsoluteError,
}

impl Loss {
    /// The loss of `output` against `target` (a rank-0 tensor).
    pub fn compute(&self, output: &Tensor, target: &Tensor) -> Result<Tensor> {
        match self {
            Loss::CrossEntropy => output.cross_entropy(target),
            Loss::BinaryCrossEntropy => output.bce_with_logits_loss(target),
            Loss::MeanSquaredError => output.mse_loss(target),
            Loss::MeanAbsoluteError => output.mae_loss(target),
        }
    }

    /// The loss of `output` against `target`, and the running sums of an epoch `sums`
    /// ([loss total, correct count]) advanced by this batch: the loss times the batch
    /// size, and the correct predictions where the loss has an accuracy. Cross-entropy
    /// does it all in its loss kernel ([`Tensor::cross_entropy_tracked`]).
    pub fn compute_tracked(
        &self,
        output: &Tensor,
        target: &Tensor,
        sums: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        if *self == Loss::CrossEntropy {
            return output.cross_entropy_tracked(target, sums);
        }
        let loss = self.compute(output, target)?;
        let correct = crate::no_grad(|| self.correct(&output.detach(), target))?;
        let rows = output.dims().first().copied().unwrap_or(1);
        let sums = crate::ops::advance_sums(sums, &loss, rows, correct.as_ref())?;
        Ok((loss, sums))
    }

    /// Whether the loss has an accuracy (a correct count in the running sums).
    pub fn has_accuracy(&self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::BinaryCrossEntropy)
    }

    /// The number of correct predictions in the batch (rank 0, on the device), for the
    /// losses that have an accuracy.
    pub fn correct(&self, output: &Tensor, target: &Tensor) -> Result<Option<Tensor>> {
        match self {
            Loss::CrossEntropy => Ok(Some(output.argmax(-1, false)?.eq(target)?.sum()?)),
            // logit >= 0 ⇔ probability >= 0.5
            Loss::BinaryCrossEntropy => Ok(Some(output.step()?.eq(target)?.sum()?)),
            Loss::MeanSquaredError | Loss::MeanAbsoluteError => Ok(None),
        }
    }
}
