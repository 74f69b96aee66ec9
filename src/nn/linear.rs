//! The fully connected layer y = x·W + b, its initialisers and regularisers.

use super::{weights::Weights, Dropout, Module, PenaltyTerm};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::Epilogue;
use crate::tensor::Tensor;

/// How weights are initialised (fan_in = inputs, fan_out = outputs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±√(6/(fan_in+fan_out)) (Keras' default).
    GlorotUniform,
    /// Normal with std √(2/(fan_in+fan_out)).
    GlorotNormal,
    /// Uniform in ±√(6/fan_in), for ReLU networks.
    HeUniform,
    /// Normal with std √(2/fan_in), for ReLU networks.
    HeNormal,
    /// All zeros.
    Zeros,
}

impl Init {
    /// A tensor of `dims` initialised this way.
    pub fn tensor(
        self,
        dims: &[usize],
        fan_in: usize,
        fan_out: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Tensor> {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        match self {
            Init::GlorotUniform => {
                let limit = (6.0 / (fi + fo)).sqrt();
                Tensor::uniform(dims, -limit, limit, seed, device)
            }
            Init::GlorotNormal => Tensor::normal(dims, 0.0, (2.0 / (fi + fo)).sqrt(), seed, device),
            Init::HeUniform => {
                let limit = (6.0 / fi).sqrt();
                Tensor::uniform(dims, -limit, limit, seed, device)
            }
            Init::HeNormal => Tensor::normal(dims, 0.0, (2.0 / fi).sqrt(), seed, device),
            Init::Zeros => Tensor::zeros(dims, device),
        }
    }
}

/// An L1 and/or L2 penalty: l1·Σ|t| + l2·Σt².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularizer {
    /// Weight of Σ|t|.
    pub l1: f32,
    /// Weight of Σt².
    pub l2: f32,
}

impl Regularizer {
    /// l1·Σ|t|.
    pub fn l1(l1: f32) -> Regularizer {
        Regularizer { l1, l2: 0.0 }
    }

    /// l2·Σt².
    pub fn l2(l2: f32) -> Regularizer {
        Regularizer { l1: 0.0, l2 }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.l1.is_finite() && self.l2.is_finite() && self.l1 >= 0.0 && self.l2 >= 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                "regularizer",
                format!("l1 and l2 must be finite and >= 0, got {self:?}"),
            ))
        }
    }

    /// The penalty of `t` (a rank-0 tensor on its device).
    pub fn penalty(&self, t: &Tensor) -> Result<Tensor> {
        self.term(t, 1.0).value()
    }

    /// `scale` times the penalty of `t`, as a term to add to a loss.
    pub fn term(&self, t: &Tensor, scale: f32) -> PenaltyTerm {
        PenaltyTerm {
            tensor: t.clone(),
            l1: self.l1 * scale,
            l2: self.l2 * scale,
        }
    }
}

/// y = x·Wᵀ + b for x of shape (N, inputs); W is (outputs, inputs), as in PyTorch, so a
/// saved model loads into `torch.nn.Linear` as it is.
///
/// ```
/// use wgnn::nn::{Linear, Module};
/// use wgnn::{Device, Tensor};
///
/// # fn main() -> wgnn::Result<()> {
/// let device = Device::cpu();
/// let layer = Linear::new(3, 2, &device)?; // Glorot-uniform weights, zero bias
/// let y = layer.forward(&Tensor::ones(&[5, 3], &device)?)?;
/// assert_eq!(y.dims(), &[5, 2]);
/// assert_eq!(layer.weight().dims(), &[2, 3]);
/// assert_eq!(layer.parameters().len(), 2); // weight and bias, both trainable
/// # Ok(())
/// # }
/// ```
pub struct Linear {
    weights: Weights,
}

impl Linear {
    /// A layer with Glorot-uniform weights and zero bias.
    pub fn new(inputs: usize, outputs: usize, device: &Device) -> Result<Linear> {
        Linear::with_init(inputs, outputs, Init::GlorotUniform, true, device)
    }

    /// A layer with the given weight initialiser, with or without a (zero) bias.
    pub fn with_init(
        inputs: usize,
        outputs: usize,
        init: Init,
        bias: bool,
        device: &Device,
    ) -> Result<Linear> {
        if inputs == 0 || outputs == 0 {
            return Err(Error::invalid(
                "Linear",
                format!("sizes must be > 0, got {inputs} -> {outputs}"),
            ));
        }
        let weights = Weights::new(
            &[outputs, inputs],
            inputs,
            outputs,
            outputs,
            init,
            bias,
            device,
        )?;
        Ok(Linear { weights })
    }

    /// Adds an L1/L2 penalty on the weights (not the bias) to [`Module::penalty`].
    pub fn with_weight_regularizer(mut self, r: Regularizer) -> Result<Self> {
        self.weights.regularize(r)?;
        Ok(self)
    }

    /// The weight matrix (outputs, inputs).
    pub fn weight(&self) -> &Tensor {
        &self.weights.weight
    }

    /// The bias vector, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.weights.bias.as_ref()
    }
}

impl Linear {
    /// x·Wᵀ + b, then `epilogue`, as one fused op.
    fn dense(&self, x: &Tensor, epilogue: Option<Epilogue>) -> Result<Tensor> {
        let inputs = self.weight().dims()[1];
        if x.rank() != 2 || x.dims()[1] != inputs {
            return Err(Error::shape(
                "Linear",
                format!("input of shape (N, {inputs})"),
                format!("{}", x.shape()),
            ));
        }
        x.linear(self.weight(), self.bias(), epilogue)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.dense(x, None)
    }

    fn forward_then(&self, x: &Tensor, epilogue: Epilogue) -> Option<Result<Tensor>> {
        Some(self.dense(x, Some(epilogue)))
    }

    fn forward_then_activation_dropout(
        &self,
        x: &Tensor,
        epilogue: Epilogue,
        dropout: &Dropout,
    ) -> Option<Result<Tensor>> {
        Some(match dropout.draw() {
            Some((p, seed)) => {
                x.linear_dropout(self.weight(), self.bias(), Some(epilogue), p, seed)
            }
            None => self.dense(x, Some(epilogue)),
        })
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.weights.named_parameters()
    }

    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        Ok(self.weights.penalty_term().into_iter().collect())
    }

    fn describe(&self) -> String {
        format!(
            "Linear({} -> {})",
            self.weight().dims()[1],
            self.weight().dims()[0]
        )
    }
}
