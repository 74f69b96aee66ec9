//! Activation layers: every activation of the ops, as a module.

use super::Module;
use crate::error::Result;
use crate::ops::{Epilogue, UnaryOp};
use crate::tensor::Tensor;

/// Which activation an [`Activation`] layer applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    /// The perceptron's step (zero gradient).
    Step,
    /// max(x, 0)
    Relu,
    /// x if x > 0 else slope·x
    LeakyRelu(f32),
    /// 1/(1 + e^−x)
    Sigmoid,
    /// tanh
    Tanh,
    /// x if x > 0 else alpha·(e^x − 1)
    Elu(f32),
    /// Self-normalizing ELU
    Selu,
    /// ln(1 + e^x)
    Softplus,
    /// x·sigmoid(x)
    Silu,
    /// x·Φ(x)
    Gelu,
    /// Softmax over the last axis
    Softmax,
    /// Log-softmax over the last axis
    LogSoftmax,
}

/// A layer applying one activation elementwise (or over the last axis for softmax).
pub struct Activation(pub ActivationKind);

impl Activation {
    /// ReLU.
    pub fn relu() -> Self {
        Activation(ActivationKind::Relu)
    }
    /// Sigmoid.
    pub fn sigmoid() -> Self {
        Activation(ActivationKind::Sigmoid)
    }
    /// Tanh.
    pub fn tanh() -> Self {
        Activation(ActivationKind::Tanh)
    }
    /// Softmax over the last axis.
    pub fn softmax() -> Self {
        Activation(ActivationKind::Softmax)
    }
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.0 {
            ActivationKind::Step => x.step(),
            ActivationKind::Relu => x.relu(),
            ActivationKind::LeakyRelu(slope) => x.leaky_relu(slope),
            ActivationKind::Sigmoid => x.sigmoid(),
            ActivationKind::Tanh => x.tanh(),
            ActivationKind::Elu(alpha) => x.elu(alpha),
            ActivationKind::Selu => x.selu(),
            ActivationKind::Softplus => x.softplus(),
            ActivationKind::Silu => x.silu(),
            ActivationKind::Gelu => x.gelu(),
            ActivationKind::Softmax => x.softmax(),
            ActivationKind::LogSoftmax => x.log_softmax(),
        }
    }

    fn as_epilogue(&self) -> Option<Epilogue> {
        let (op, alpha) = match self.0 {
            ActivationKind::Step => (UnaryOp::Step, 0.0),
            ActivationKind::Relu => (UnaryOp::Relu, 0.0),
            ActivationKind::LeakyRelu(slope) => (UnaryOp::LeakyRelu, slope),
            ActivationKind::Sigmoid => (UnaryOp::Sigmoid, 0.0),
            ActivationKind::Tanh => (UnaryOp::Tanh, 0.0),
            ActivationKind::Elu(alpha) => (UnaryOp::Elu, alpha),
            ActivationKind::Selu => (UnaryOp::Selu, 0.0),
            ActivationKind::Softplus => (UnaryOp::Softplus, 0.0),
            ActivationKind::Silu => (UnaryOp::Silu, 0.0),
            ActivationKind::Gelu => (UnaryOp::Gelu, 0.0),
            ActivationKind::Softmax | ActivationKind::LogSoftmax => return None,
        };
        // A slope or alpha that is not > 0 is no epilogue: the layer runs on its own.
        Epilogue::new(op, alpha).ok()
    }

    fn describe(&self) -> String {
        format!("{:?}", self.0)
    }
}
