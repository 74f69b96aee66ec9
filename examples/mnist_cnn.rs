//! The course's MNIST CNN (Keras' classic mnist_cnn): Conv(32, 3x3) ReLU, Conv(64, 3x3)
//! ReLU, MaxPool 2, Dropout 0.25, Flatten, Dense 128 ReLU, Dropout 0.5, Dense 10;
//! softmax cross-entropy, Adadelta (lr 1.0, rho 0.95), batch 128, 12 epochs, a constant
//! learning rate. `--augment` adds random rotations (±10°) and shifts (±2 px) on the
//! device while training. The one choice beyond the Keras program is He-uniform
//! initialisation of the ReLU layers (Keras defaults to Glorot; the two measured alike in
//! docs/performance.md); `--course` runs Keras' program as written and prints its figure.
//!
//! cargo run --release --example mnist_cnn -- [--device gpu|cpu] [--epochs N] [--limit N] [--course]

mod common;

use clap::Parser;
use common::{CourseProgram, MnistArgs, MnistRecipe};
use wgnn::nn::Init;
use wgnn::optim::{Optimizer, Rule};

/// mnist_cnn's flags: those of every MNIST example, and augmentation.
#[derive(Parser, Debug)]
struct CnnArgs {
    #[command(flatten)]
    mnist: MnistArgs,
    /// Randomly rotate (±10°) and shift (±2 px) each training image
    #[arg(long, conflicts_with = "course")]
    augment: bool,
}

fn main() {
    common::run(|| {
        let args = CnnArgs::parse();
        let recipe = MnistRecipe {
            sample_dims: &[1, 28, 28],
            epochs: 12,
            lr: 1.0,
            schedule: "constant",
            init: Init::HeUniform,
            course: CourseProgram {
                lr: 1.0,
                figure: (
                    99.25,
                    "Keras' mnist_cnn.py: \"Gets to 99.25% test accuracy after 12 epochs\"",
                ),
            },
        };
        let augment = args.augment.then_some((10.0, 2.0));
        common::train_mnist(
            &args.mnist,
            &recipe,
            |device, init| wgnn::models::mnist_cnn_with_init(device, augment, init),
            |parameters, lr| Optimizer::new(parameters, Rule::adadelta(), lr),
        )
    });
}
