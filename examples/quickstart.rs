//! The README's quickstart: a complete MNIST training program.

use wgnn::data::Mnist;
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::Optimizer;
use wgnn::train::{evaluate, fit, ConfusionMatrix, FitOptions, Loss};
use wgnn::Device;

fn main() -> wgnn::Result<()> {
    let device = Device::best(); // a GPU when there is one, else the CPU path
    let mnist = Mnist::load(None)?; // $MNIST_DIR or data/mnist, downloaded if absent
    let train = mnist.train.dataset(&[784], &device)?;
    let test = mnist.test.dataset(&[784], &device)?;
    let model = Sequential::new()
        .add(Linear::new(784, 64, &device)?)
        .add(Activation::relu())
        .add(Linear::new(64, 10, &device)?);
    print!("{}", model.summary(&[784])?);
    let mut adam = Optimizer::adam(model.parameters(), 1e-3)?;
    let options = FitOptions {
        epochs: 5,
        batch_size: 128,
        validation_split: Some(0.1),
        ..Default::default()
    };
    let history = fit(&model, &mut adam, Loss::CrossEntropy, &train, &options)?;
    println!(
        "test: {:?}",
        evaluate(&model, &test, Loss::CrossEntropy, 1000)?
    );
    println!(
        "{}",
        ConfusionMatrix::of_model(&model, &test, 10, 1000)?.report()
    );
    wgnn::io::save(&model, "mlp.safetensors")?; // loads in PyTorch too
    wgnn::plot::history(&history, "curves.png")?;
    Ok(())
}
