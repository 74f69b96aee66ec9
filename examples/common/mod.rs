//! Flags and helpers shared by the examples.
#![allow(dead_code)]

use clap::Parser;
use std::path::PathBuf;
use wgnn::{Device, Error, Result};

/// The flags every MNIST example takes.
#[derive(Parser, Debug, Clone)]
pub struct MnistArgs {
    /// gpu, cpu, or best (a hardware GPU if there is one, else the CPU)
    #[arg(long, default_value = "best")]
    pub device: String,
    /// Passes over the training data
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per step
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Learning rate
    #[arg(long)]
    pub lr: Option<f32>,
    /// Directory holding the MNIST files (else $MNIST_DIR, else data/mnist)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Train on the first N training images only
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed for initialisation, shuffling and dropout
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Learning-rate schedule over the run: cosine (decay to 0) or constant [default:
    /// the example's recipe]
    #[arg(long)]
    pub schedule: Option<String>,
    /// No progress bar or per-epoch lines
    #[arg(long)]
    pub quiet: bool,
}

/// The device a `--device` flag names.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::cpu()),
        "gpu" => Device::gpu(),
        "best" => Ok(Device::best()),
        other => Err(Error::invalid(
            "--device",
            format!("expected gpu, cpu or best, got {other}"),
        )),
    }
}

/// Runs `main`, printing an error and exiting with status 1 on failure.
pub fn run(main: impl FnOnce() -> Result<()>) {
    if let Err(e) = main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The schedule a `--schedule` flag names, for a run of `total_steps` steps.
pub fn schedule(name: &str, total_steps: u64) -> Result<Option<wgnn::optim::Schedule>> {
    match name {
        "constant" => Ok(None),
        "cosine" => Ok(Some(wgnn::optim::Schedule::Cosine {
            total: total_steps.max(1),
            min_lr: 0.0,
        })),
        other => Err(Error::invalid(
            "--schedule",
            format!("expected constant or cosine, got {other}"),
        )),
    }
}

/// One MNIST example's recipe: what it trains and how, besides the flags.
pub struct MnistRecipe {
    /// Shape of one sample as the model takes it: [784] or [1, 28, 28].
    pub sample_dims: &'static [usize],
    /// Epochs when `--epochs` is not given.
    pub epochs: usize,
    /// Learning rate when `--lr` is not given.
    pub lr: f32,
    /// Schedule when `--schedule` is not given.
    pub schedule: &'static str,
}

/// Loads MNIST, builds the model with `build(device)` and its optimizer with
/// `optimizer(parameters, lr)`, trains it with `recipe` and the flags, and prints the
/// epoch time and the test accuracy (last line: `test accuracy: XX.XX%`).
pub fn train_mnist<M: wgnn::nn::Module>(
    args: &MnistArgs,
    recipe: &MnistRecipe,
    build: impl FnOnce(&Device) -> Result<M>,
    optimizer: impl FnOnce(Vec<wgnn::Tensor>, f32) -> Result<wgnn::optim::Optimizer>,
) -> Result<()> {
    use wgnn::train::{evaluate, fit, FitOptions, Loss};
    let device = device(&args.device)?;
    announce(&device);
    let mnist = wgnn::data::Mnist::load(args.data.as_deref())?;
    let train_split = match args.limit {
        Some(n) => mnist.train.take(n),
        None => mnist.train.clone(),
    };
    let train = train_split.dataset(recipe.sample_dims, &device)?;
    let test = mnist.test.dataset(recipe.sample_dims, &device)?;
    println!(
        "MNIST from {}: {} training, {} test images",
        mnist.dir.display(),
        train.len(),
        test.len()
    );
    wgnn::nn::manual_seed(args.seed);
    let model = build(&device)?;
    println!("model: {}", model.describe());
    let mut optimizer = optimizer(model.parameters(), args.lr.unwrap_or(recipe.lr))?;
    let epochs = args.epochs.unwrap_or(recipe.epochs);
    let steps_per_epoch = train.len().div_ceil(args.batch_size.max(1)) as u64;
    let schedule_name = args.schedule.as_deref().unwrap_or(recipe.schedule);
    let options = FitOptions {
        epochs,
        schedule: schedule(schedule_name, epochs as u64 * steps_per_epoch)?,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: !args.quiet,
        ..FitOptions::default()
    };
    let history = fit(&model, &mut optimizer, Loss::CrossEntropy, &train, &options)?;
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    if !history.epochs.is_empty() {
        println!(
            "training: {:.3} s per epoch",
            seconds / history.epochs.len() as f64
        );
    }
    let result = evaluate(&model, &test, Loss::CrossEntropy, 1000)?;
    println!("test loss: {:.4}", result.loss);
    println!(
        "test accuracy: {:.2}%",
        100.0 * result.accuracy.unwrap_or(0.0)
    );
    Ok(())
}

/// The flags of the small examples.
#[derive(Parser, Debug, Clone)]
pub struct SmallArgs {
    /// gpu, cpu, or best
    #[arg(long, default_value = "best")]
    pub device: String,
    /// Passes over the training data
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed for the data, initialisation and shuffling
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Prints the device's first description line.
pub fn announce(device: &Device) {
    println!(
        "device: {}",
        device.describe().lines().next().unwrap_or_default()
    );
}

/// Trains a 2-h-h-1 ReLU network with a sigmoid output (binary cross-entropy on logits),
/// Adam lr 0.01, batch 32, on 80% of `data`, printing every tenth epoch and the test
/// accuracy on the other 20%: the course's recipe for its 2-D sets.
pub fn train_2d_classifier(
    data: &wgnn::data::Dataset,
    hidden: usize,
    args: &SmallArgs,
    device: &Device,
) -> Result<()> {
    use wgnn::nn::{Activation, Linear, Module, Sequential};
    use wgnn::train::{evaluate, fit, FitOptions, Loss};
    let (train, test) = data.split(0.2)?;
    wgnn::nn::manual_seed(args.seed);
    let model = Sequential::new()
        .add(Linear::new(2, hidden, device)?)
        .add(Activation::relu())
        .add(Linear::new(hidden, hidden, device)?)
        .add(Activation::relu())
        .add(Linear::new(hidden, 1, device)?);
    let mut adam = wgnn::optim::Optimizer::adam(model.parameters(), 0.01)?;
    let options = FitOptions {
        epochs: args.epochs.unwrap_or(100),
        batch_size: 32,
        seed: args.seed,
        verbose: false,
        ..FitOptions::default()
    };
    let history = fit(
        &model,
        &mut adam,
        Loss::BinaryCrossEntropy,
        &train,
        &options,
    )?;
    for e in history.epochs.iter().filter(|e| e.epoch % 10 == 0) {
        println!(
            "epoch {:>4}: loss {:.4}, accuracy {:.3}",
            e.epoch,
            e.loss,
            e.accuracy.unwrap_or(0.0)
        );
    }
    let result = evaluate(&model, &test, Loss::BinaryCrossEntropy, 256)?;
    println!(
        "test accuracy: {:.2}%",
        100.0 * result.accuracy.unwrap_or(0.0)
    );
    Ok(())
}
