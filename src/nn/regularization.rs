//! Activity regularization: a layer that passes its input through and records an L1/L2
//! penalty on it (Keras' `ActivityRegularization`, or `activity_regularizer=` when placed
//! after a layer's activation).

use super::{Module, PenaltyTerm, Regularizer};
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The identity, adding a penalty on its input to [`Module::penalty`] after each training
/// forward pass: `regularizer(x) / batch size` by default, so that the strength does not
/// depend on the batch size (tf.keras 2's rule), or `regularizer(x)` over the whole batch
/// with [`ActivityRegularization::summed`] (Keras 3's rule, which at batch 128 takes the
/// course's MNIST MLP from about 97.5% to 96.1% test accuracy; see docs/performance.md).
pub struct ActivityRegularization {
    regularizer: Regularizer,
    per_sample: bool,
    last: Mutex<Option<PenaltyTerm>>,
    training: AtomicBool,
}

impl ActivityRegularization {
    /// A penalty layer with the given weights, averaged over the batch.
    pub fn new(regularizer: Regularizer) -> Result<Self> {
        regularizer.validate()?;
        Ok(ActivityRegularization {
            regularizer,
            per_sample: true,
            last: Mutex::new(None),
            training: AtomicBool::new(true),
        })
    }
}

impl ActivityRegularization {
    /// The same penalty summed over the batch instead of averaged (Keras 3's rule).
    pub fn summed(mut self) -> Self {
        self.per_sample = false;
        self
    }
}

impl Module for ActivityRegularization {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let record = self.training.load(Ordering::Relaxed) && crate::autograd::is_grad_enabled();
        let penalty = record.then(|| {
            let batch = x.dims().first().copied().unwrap_or(1).max(1);
            let scale = if self.per_sample {
                1.0 / batch as f32
            } else {
                1.0
            };
            self.regularizer.term(x, scale)
        });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = penalty;
        Ok(x.clone())
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        Ok(self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .into_iter()
            .collect())
    }

    fn describe(&self) -> String {
        format!(
            "ActivityRegularization(l1 {}, l2 {})",
            self.regularizer.l1, self.regularizer.l2
        )
    }
}
