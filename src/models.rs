//! The course's reference models, built from `nn` layers.

use crate::device::Device;
use crate::error::Result;
use crate::nn::{Activation, ActivityRegularization, Init, Linear, Regularizer, Sequential};

/// The course's MNIST MLP: 784-64-32-10 with ReLU and an L2 penalty of 1e-3 on the first
/// layer's activations (averaged over the batch), producing logits for softmax
/// cross-entropy. ReLU layers use He-uniform initialisation, as the course advises for
/// ReLU (Keras would default to Glorot); the output layer uses Glorot-uniform.
pub fn mnist_mlp(device: &Device) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(Linear::with_init(784, 64, Init::HeUniform, true, device)?)
        .add(Activation::relu())
        .add(ActivityRegularization::new(Regularizer::l2(1e-3))?)
        .add(Linear::with_init(64, 32, Init::HeUniform, true, device)?)
        .add(Activation::relu())
        .add(Linear::new(32, 10, device)?))
}
