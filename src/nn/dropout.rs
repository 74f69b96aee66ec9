//! Dropout: in training, zero each element with probability p and scale the rest by
//! 1/(1−p); the identity in evaluation. Masks come from the GPU's counter-based RNG.

use super::{Module, SeedStream};
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};

/// The dropout layer.
pub struct Dropout {
    p: f32,
    seeds: SeedStream,
    training: AtomicBool,
}

impl Dropout {
    /// Drops each element with probability `p` (in [0, 1)).
    pub fn new(p: f32) -> Result<Dropout> {
        // Validate once here, with the same message as the op.
        Tensor::dropout_mask(&[0], p, 0, &crate::Device::Cpu)?;
        Ok(Dropout {
            p,
            seeds: SeedStream::new(),
            training: AtomicBool::new(true),
        })
    }

    /// The (drop probability, seed) of this layer's next application, drawing the seed
    /// from its stream; None where it is the identity (evaluation, or p = 0). A layer that
    /// applies this dropout in its own kernel calls it once per forward, as `forward` does.
    pub fn draw(&self) -> Option<(f32, u64)> {
        (self.training.load(Ordering::Relaxed) && self.p > 0.0).then(|| (self.p, self.seeds.next()))
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.draw() {
            Some((p, seed)) => x.dropout(p, seed),
            None => Ok(x.clone()),
        }
    }

    fn as_dropout(&self) -> Option<&Dropout> {
        Some(self)
    }

    fn named_seed_streams(&self) -> Vec<(String, &SeedStream)> {
        vec![("seeds".to_string(), &self.seeds)]
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("Dropout({})", self.p)
    }
}
