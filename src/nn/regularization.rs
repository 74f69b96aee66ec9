//! Activity regularization: a layer that passes its input through and records an L1/L2
//! penalty on it (Keras' `ActivityRegularization`, or `activity_regularizer=` when placed
//! after a layer's activation).

use super::{Module, Regularizer};
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The identity, adding `regularizer(x)` summed over the whole batch to
/// [`Module::penalty`] after each training forward pass. This is Keras 3's rule (its
/// `Layer.__call__` adds `activity_regularizer(output)` as is); tf.keras 2 divided it by
/// the batch size.
pub struct ActivityRegularization {
    regularizer: Regularizer,
    last: Mutex<Option<Tensor>>,
    training: AtomicBool,
}

impl ActivityRegularization {
    /// A penalty layer with the given weights.
    pub fn new(regularizer: Regularizer) -> Result<Self> {
        regularizer.validate()?;
        Ok(ActivityRegularization {
            regularizer,
            last: Mutex::new(None),
            training: AtomicBool::new(true),
        })
    }
}

impl Module for ActivityRegularization {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let record = self.training.load(Ordering::Relaxed) && crate::autograd::is_grad_enabled();
        let penalty = if record {
            let batch = x.dims().first().copied().unwrap_or(1).max(1);
            Some(
                self.regularizer
                    .penalty(x)?
                    .mul_scalar(1.0 / batch as f32)?,
            )
        } else {
            None
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = penalty;
        Ok(x.clone())
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn penalty(&self) -> Result<Option<Tensor>> {
        Ok(self.last.lock().unwrap_or_else(|e| e.into_inner()).take())
    }

    fn describe(&self) -> String {
        format!(
            "ActivityRegularization(l1 {}, l2 {})",
            self.regularizer.l1, self.regularizer.l2
        )
    }
}
