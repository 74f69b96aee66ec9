//! Layers: the [`Module`] trait, Linear, Conv2d, pooling, batch normalization, activations,
//! Flatten, Dropout, augmentation, Sequential and a residual wrapper. Layers only compose
//! tensor ops; they never touch wgpu.

mod activation;
mod augment;
mod container;
mod conv;
mod dropout;
mod linear;
mod norm;
mod regularization;
mod seed;
mod summary;
mod weights;

pub use activation::{Activation, ActivationKind};
pub use augment::RandomAffine;
pub use container::{Flatten, Residual, Sequential};
pub use conv::{AvgPool2d, Conv2d, MaxPool2d};
pub use dropout::Dropout;
pub use linear::{Init, Linear, Regularizer};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use regularization::ActivityRegularization;
pub use seed::{manual_seed, SeedStream};
pub use summary::{LayerSummary, Summary};

use crate::error::Result;
use crate::ops::Epilogue;
use crate::tensor::Tensor;

/// A layer or a model: a forward function with parameters and a training flag.
pub trait Module: Send + Sync {
    /// Applies the module to a batch.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// The parameters with names relative to this module (`weight`, `0.bias`, ...).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The parameters (leaves that require grad), in a stable order.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Non-trainable state saved with the model (batch norm's running statistics), with
    /// names relative to this module.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The random streams of this module (dropout, augmentation), with names relative to
    /// it; checkpoints save their positions.
    fn named_seed_streams(&self) -> Vec<(String, &SeedStream)> {
        Vec::new()
    }

    /// Switches between training (dropout active, penalties recorded) and evaluation.
    fn set_training(&self, _training: bool) {}

    /// The regularization penalties of the last forward pass (weight and activity
    /// penalties), as terms to add to the loss; empty when the module has none. An
    /// activity penalty is handed out once per forward pass.
    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        Ok(Vec::new())
    }

    /// The sum of [`Module::penalty_terms`], to add to the loss; None when the module has
    /// none. (`fit` adds each term to its loss in the term's own dispatch instead.) A
    /// module with penalties implements `penalty_terms`, which `fit` reads, not this.
    fn penalty(&self) -> Result<Option<Tensor>> {
        let mut total = None;
        for term in self.penalty_terms()? {
            total = add_penalties(total, Some(term.value()?))?;
        }
        Ok(total)
    }

    /// The activation this layer applies, when it is one that a producing layer can apply
    /// in its own kernel (see [`Epilogue`]). Containers use it to fuse the two.
    fn as_epilogue(&self) -> Option<Epilogue> {
        None
    }

    /// This layer's forward followed by `epilogue` in the same kernel, when the layer
    /// can do that (Linear, Conv2d); `None` when it cannot, and the container then runs
    /// the two layers one after the other.
    fn forward_then(&self, _x: &Tensor, _epilogue: Epilogue) -> Option<Result<Tensor>> {
        None
    }

    /// This layer's forward followed by `epilogue` and then `dropout`, all in the same
    /// kernels, when the layer can do that (Linear); `None` when it cannot.
    fn forward_then_activation_dropout(
        &self,
        _x: &Tensor,
        _epilogue: Epilogue,
        _dropout: &Dropout,
    ) -> Option<Result<Tensor>> {
        None
    }

    /// This layer as a dropout that a producing layer can apply in its own kernel (the
    /// pooling layers and Linear after its activation do). Containers use it to fuse them.
    fn as_dropout(&self) -> Option<&Dropout> {
        None
    }

    /// This layer's forward followed by `dropout` in the same kernels, when the layer can
    /// do that (MaxPool2d, AvgPool2d); `None` when it cannot, and the container then runs
    /// the two layers one after the other.
    fn forward_then_dropout(&self, _x: &Tensor, _dropout: &Dropout) -> Option<Result<Tensor>> {
        None
    }

    /// A one-line description, such as `Linear(784 -> 64)`.
    fn describe(&self) -> String;
}

/// One L1/L2 penalty a layer puts on a tensor, `l1·Σ|x| + l2·Σx²`, its weights already
/// scaled as the layer wants (an activity penalty by 1/batch).
#[derive(Clone)]
pub struct PenaltyTerm {
    /// The penalized tensor (a weight, or a layer's output).
    pub tensor: Tensor,
    /// Weight of Σ|x|.
    pub l1: f32,
    /// Weight of Σx².
    pub l2: f32,
}

impl PenaltyTerm {
    /// The penalty's value (rank 0, on the tensor's device, on the tape).
    pub fn value(&self) -> Result<Tensor> {
        self.tensor.l1_l2_penalty(self.l1, self.l2)
    }

    /// `loss + ` this penalty, in one op.
    pub fn added_to(&self, loss: &Tensor) -> Result<Tensor> {
        loss.plus_l1_l2_penalty(&self.tensor, self.l1, self.l2)
    }
}

/// Adds two optional penalties.
pub(crate) fn add_penalties(a: Option<Tensor>, b: Option<Tensor>) -> Result<Option<Tensor>> {
    match (a, b) {
        (Some(a), Some(b)) => Ok(Some(a.add(&b)?)),
        (a, b) => Ok(a.or(b)),
    }
}
