//! The course's MNIST MLP trained end to end on a subset of the real MNIST, on the CPU
//! and (when present) the GPU. Skipped without the files ($MNIST_DIR or ../shared/mnist);
//! CI has them.

mod common;

use std::path::PathBuf;
use wgnn::data::Mnist;
use wgnn::nn::Module;
use wgnn::optim::{Optimizer, Schedule};
use wgnn::train::{evaluate, fit, FitOptions, Loss};
use wgnn::Device;

fn mnist() -> Option<Mnist> {
    let dir = std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/mnist"));
    match Mnist::load_from(&dir) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("skipping the MNIST test: {e}");
            None
        }
    }
}

/// Test accuracy after 4 epochs on the first 16384 training images, with the example's
/// recipe (Adam 1e-3, batch 128, cosine decay).
fn train_subset(mnist: &Mnist, device: &Device) -> f32 {
    let train = mnist.train.take(16384).dataset(&[784], device).unwrap();
    let test = mnist.test.take(2000).dataset(&[784], device).unwrap();
    wgnn::nn::manual_seed(42);
    let model = wgnn::models::mnist_mlp(device).unwrap();
    let mut adam = Optimizer::adam(model.parameters(), 1e-3).unwrap();
    let options = FitOptions {
        epochs: 4,
        batch_size: 128,
        seed: 42,
        verbose: false,
        schedule: Some(Schedule::Cosine {
            total: 4 * 128,
            min_lr: 0.0,
        }),
        ..FitOptions::default()
    };
    fit(&model, &mut adam, Loss::CrossEntropy, &train, &options).unwrap();
    evaluate(&model, &test, Loss::CrossEntropy, 500)
        .unwrap()
        .accuracy
        .unwrap()
}

#[test]
fn the_course_mlp_learns_mnist_on_a_subset() {
    let Some(mnist) = mnist() else { return };
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    let mut accuracies = Vec::new();
    for device in devices {
        let accuracy = train_subset(&mnist, &device);
        accuracies.push(accuracy);
        println!(
            "{device}: test accuracy {:.2}% after 4 epochs on 16384 images",
            100.0 * accuracy
        );
        // Measured: 90.70% on both devices; random guessing gives 10%.
        assert!(accuracy >= 0.88, "{device}: test accuracy {accuracy}");
    }
    if let [cpu, gpu] = accuracies[..] {
        assert!((cpu - gpu).abs() <= 0.01, "cpu {cpu} vs gpu {gpu}");
    }
}
