//! The course's reference models, built from `nn` layers.

use crate::device::Device;
use crate::error::Result;
use crate::nn::{
    Activation, ActivityRegularization, Conv2d, Dropout, Flatten, Init, Linear, MaxPool2d,
    RandomAffine, Regularizer, Sequential,
};

/// The course's MNIST MLP: 784-64-32-10 with ReLU and an L2 penalty of 1e-3 on the first
/// layer's activations (averaged over the batch), producing logits for softmax
/// cross-entropy. ReLU layers use He-uniform initialisation, as the course advises for
/// ReLU (Keras would default to Glorot); the output layer uses Glorot-uniform.
pub fn mnist_mlp(device: &Device) -> Result<Sequential> {
    mnist_mlp_with_init(device, Init::HeUniform)
}

/// [`mnist_mlp`] with `hidden` initialising the two ReLU layers' weights
/// (`Init::GlorotUniform` gives the course's Keras program exactly).
pub fn mnist_mlp_with_init(device: &Device, hidden: Init) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(Linear::with_init(784, 64, hidden, true, device)?)
        .add(Activation::relu())
        .add(ActivityRegularization::new(Regularizer::l2(1e-3))?)
        .add(Linear::with_init(64, 32, hidden, true, device)?)
        .add(Activation::relu())
        .add(Linear::new(32, 10, device)?))
}

/// The course's MNIST CNN (Keras' classic mnist_cnn) on (N, 1, 28, 28) images: Conv(32,
/// 3x3) ReLU, Conv(64, 3x3) ReLU, MaxPool 2, Dropout 0.25, Flatten, Dense 128 ReLU,
/// Dropout 0.5, Dense 10, producing logits. Convolutions and the hidden dense layer use
/// He-uniform initialisation (ReLU), the output layer Glorot-uniform. `augment` =
/// Some((degrees, pixels)) puts a [`RandomAffine`] in front, active in training only.
pub fn mnist_cnn(device: &Device, augment: Option<(f32, f32)>) -> Result<Sequential> {
    mnist_cnn_with_init(device, augment, Init::HeUniform)
}

/// [`mnist_cnn`] with `hidden` initialising the weights of the two convolutions and the
/// hidden dense layer (`Init::GlorotUniform`, with no augmentation, gives Keras' classic
/// mnist_cnn exactly).
pub fn mnist_cnn_with_init(
    device: &Device,
    augment: Option<(f32, f32)>,
    hidden: Init,
) -> Result<Sequential> {
    let mut model = Sequential::new();
    if let Some((degrees, pixels)) = augment {
        model = model.add(RandomAffine::new(degrees, pixels)?);
    }
    Ok(model
        .add(Conv2d::with_init(1, 32, [3, 3], hidden, true, device)?)
        .add(Activation::relu())
        .add(Conv2d::with_init(32, 64, [3, 3], hidden, true, device)?)
        .add(Activation::relu())
        .add(MaxPool2d::new([2, 2]))
        .add(Dropout::new(0.25)?)
        .add(Flatten)
        .add(Linear::with_init(64 * 12 * 12, 128, hidden, true, device)?)
        .add(Activation::relu())
        .add(Dropout::new(0.5)?)
        .add(Linear::new(128, 10, device)?))
}
