//! Data augmentation as a layer: random rotations and shifts of the input images while
//! training, the identity in evaluation (like Keras' RandomRotation and
//! RandomTranslation preprocessing layers, or torchvision's RandomAffine).

use super::{Module, SeedStream};
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};

/// Rotates each training image by up to ±`max_degrees` and shifts it by up to
/// ±`max_shift` pixels, on the device, with a fresh seeded draw per batch.
pub struct RandomAffine {
    max_degrees: f32,
    max_shift: f32,
    seeds: SeedStream,
    training: AtomicBool,
}

impl RandomAffine {
    /// Rotations in ±`max_degrees` (at most 180) and shifts in ±`max_shift` pixels.
    pub fn new(max_degrees: f32, max_shift: f32) -> Result<RandomAffine> {
        // Validate once here, with the op's message.
        let probe = Tensor::zeros(&[1, 1, 1, 1], &crate::Device::Cpu)?;
        probe.random_affine(max_degrees, max_shift, 0)?;
        Ok(RandomAffine {
            max_degrees,
            max_shift,
            seeds: SeedStream::new(),
            training: AtomicBool::new(true),
        })
    }
}

impl Module for RandomAffine {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.load(Ordering::Relaxed) {
            return Ok(x.clone());
        }
        x.random_affine(self.max_degrees, self.max_shift, self.seeds.next())
    }

    fn named_seed_streams(&self) -> Vec<(String, &SeedStream)> {
        vec![("seeds".to_string(), &self.seeds)]
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!(
            "RandomAffine(±{}°, ±{} px)",
            self.max_degrees, self.max_shift
        )
    }
}
