//! Batch normalization layers: BatchNorm1d over (N, C) or (N, C, L), BatchNorm2d over
//! (N, C, H, W). PyTorch's conventions: momentum 0.1 is the weight of the new batch in the
//! running averages, the running variance is unbiased, eps is 1e-5.

use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, Ordering};

/// Batch normalization with a learned scale (gamma, "weight") and shift (beta, "bias")
/// per channel; made by [`BatchNorm1d::new`] or [`BatchNorm2d::new`].
pub struct BatchNorm {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    momentum: f32,
    eps: f32,
    ranks: &'static [usize],
    name: &'static str,
    training: AtomicBool,
}

/// Batch normalization of (N, C) or (N, C, L) inputs (Keras' BatchNormalization after a
/// Dense layer).
pub struct BatchNorm1d;

/// Batch normalization of (N, C, H, W) inputs, per channel.
pub struct BatchNorm2d;

impl BatchNorm1d {
    /// A layer for `features` channels: gamma 1, beta 0, running mean 0, variance 1.
    #[allow(clippy::new_ret_no_self)] // one layer type, two PyTorch names
    pub fn new(features: usize, device: &Device) -> Result<BatchNorm> {
        BatchNorm::new("BatchNorm1d", &[2, 3], features, device)
    }
}

impl BatchNorm2d {
    /// A layer for `channels` channels: gamma 1, beta 0, running mean 0, variance 1.
    #[allow(clippy::new_ret_no_self)] // one layer type, two PyTorch names
    pub fn new(channels: usize, device: &Device) -> Result<BatchNorm> {
        BatchNorm::new("BatchNorm2d", &[4], channels, device)
    }
}

impl BatchNorm {
    fn new(
        name: &'static str,
        ranks: &'static [usize],
        channels: usize,
        device: &Device,
    ) -> Result<BatchNorm> {
        if channels == 0 {
            return Err(Error::invalid(name, "the number of channels must be > 0"));
        }
        Ok(BatchNorm {
            gamma: Tensor::ones(&[channels], device)?.requires_grad_(),
            beta: Tensor::zeros(&[channels], device)?.requires_grad_(),
            running_mean: Tensor::zeros(&[channels], device)?,
            running_var: Tensor::ones(&[channels], device)?,
            momentum: 0.1,
            eps: 1e-5,
            ranks,
            name,
            training: AtomicBool::new(true),
        })
    }

    /// The same layer with another momentum (the new batch's weight in the running
    /// averages, in (0, 1]; Keras' momentum m is 1 − m here) and eps.
    pub fn with_momentum_and_eps(mut self, momentum: f32, eps: f32) -> Result<Self> {
        if !(momentum > 0.0 && momentum <= 1.0 && eps > 0.0 && eps.is_finite()) {
            return Err(Error::invalid(
                self.name,
                format!("momentum must be in (0, 1] and eps > 0, got {momentum} and {eps}"),
            ));
        }
        self.momentum = momentum;
        self.eps = eps;
        Ok(self)
    }

    /// The running mean per channel.
    pub fn running_mean(&self) -> &Tensor {
        &self.running_mean
    }

    /// The running (unbiased) variance per channel.
    pub fn running_var(&self) -> &Tensor {
        &self.running_var
    }

    /// running ← (1 − momentum)·running + momentum·batch, in place (the batch statistics
    /// are detached, so nothing is recorded on the tape).
    fn update_running(&self, mean: &Tensor, var: &Tensor, count: usize) -> Result<()> {
        let unbiased = count as f32 / (count.max(2) - 1) as f32;
        let m = self.momentum;
        let blend = |running: &Tensor, batch: &Tensor, scale: f32| -> Result<()> {
            let next = running
                .mul_scalar(1.0 - m)?
                .add(&batch.mul_scalar(m * scale)?)?;
            running.copy_from(&next)
        };
        blend(&self.running_mean, mean, 1.0)?;
        blend(&self.running_var, var, unbiased)
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.ranks.contains(&x.rank()) {
            let wanted = if self.ranks == [4] {
                "an input of shape (N, C, H, W)"
            } else {
                "an input of shape (N, C) or (N, C, L)"
            };
            return Err(Error::shape(self.name, wanted, format!("{}", x.shape())));
        }
        if !self.training.load(Ordering::Relaxed) {
            return x.batch_norm_with_stats(
                &self.running_mean,
                &self.running_var,
                &self.gamma,
                &self.beta,
                self.eps,
            );
        }
        let (y, mean, var) = x.batch_norm(&self.gamma, &self.beta, self.eps)?;
        let count = x.numel() / x.dims()[1].max(1);
        self.update_running(&mean, &var, count)?;
        Ok(y)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".into(), self.gamma.clone()),
            ("bias".into(), self.beta.clone()),
        ]
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
        ]
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!(
            "{}({}, momentum {}, eps {})",
            self.name,
            self.gamma.numel(),
            self.momentum,
            self.eps
        )
    }
}
