//! The course's MNIST MLP: 784-64-32-10 with ReLU, an L2 penalty of 1e-3 on the first
//! layer's activations, softmax cross-entropy, Adam, batch 128, 10 epochs.
//! Three choices beyond the Keras program, the best recipe measured in
//! docs/performance.md: He-uniform initialisation of the ReLU layers (the course's advice
//! for ReLU; Keras defaults to Glorot), a peak learning rate of 2e-3 instead of 1e-3, and
//! that rate decayed to 0 along a cosine over the run. `--course` runs the course's
//! program as written (Glorot, constant lr 1e-3) and prints the course's figure.
//!
//! cargo run --release --example mnist_mlp -- [--device gpu|cpu] [--epochs N] [--limit N] [--course]

mod common;

use clap::Parser;
use common::{CourseProgram, MnistArgs, MnistRecipe};
use wgnn::nn::Init;
use wgnn::optim::Optimizer;

fn main() {
    common::run(|| {
        let recipe = MnistRecipe {
            sample_dims: &[784],
            epochs: 10,
            lr: 2e-3,
            schedule: "cosine",
            init: Init::HeUniform,
            course: CourseProgram {
                lr: 1e-3,
                figure: (
                    97.26,
                    "its Keras program, tf.keras 2.15: mean of seeds 42, 1, 2, 3, 4, 97.11-97.48%",
                ),
            },
        };
        common::train_mnist(
            &MnistArgs::parse(),
            &recipe,
            wgnn::models::mnist_mlp_with_init,
            Optimizer::adam,
        )
    });
}
