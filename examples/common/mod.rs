//! Flags and helpers shared by the examples.
#![allow(dead_code)]

use clap::Parser;
use std::path::PathBuf;
use wgnn::nn::Init;
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
    /// Directory holding the four MNIST files; used and no other (without it: $MNIST_DIR,
    /// else data/mnist, downloaded there when absent)
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
    /// Hold out this fraction of the training images for validation (curves, early checks)
    #[arg(long)]
    pub validation_split: Option<f32>,
    /// Load the model's parameters from this safetensors file (or checkpoint) before
    /// training; with --epochs 0 the example only evaluates it
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Save the trained model to this safetensors file (loadable by PyTorch)
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Checkpoint the run to this file after every epoch, and resume from it if it exists
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Draw the loss and accuracy curves to this file (.png or .svg)
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Run the course's exact program (Keras defaults: Glorot-uniform initialisation, the
    /// course's optimizer at a constant learning rate) and print the course's own figure
    /// beside the result
    #[arg(long, conflicts_with_all = ["lr", "schedule", "batch_size"])]
    pub course: bool,
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
    /// Epochs when `--epochs` is not given (the course's count too).
    pub epochs: usize,
    /// Learning rate when `--lr` is not given.
    pub lr: f32,
    /// Schedule when `--schedule` is not given.
    pub schedule: &'static str,
    /// Initialisation of the hidden layers' weights.
    pub init: Init,
    /// What `--course` runs instead.
    pub course: CourseProgram,
}

/// The course's own program for an example (`--course`): Glorot-uniform initialisation,
/// the optimizer at a constant learning rate, and the figure the course reports.
pub struct CourseProgram {
    /// The course's (constant) learning rate.
    pub lr: f32,
    /// The course's test accuracy after its epochs, in percent, and where it comes from.
    pub figure: (f32, &'static str),
}

/// Loads MNIST, builds the model with `build(device, init)` and its optimizer with
/// `optimizer(parameters, lr)`, prints its summary, loads it (`--load`), trains it with
/// `recipe` (or its course program with `--course`) and the flags, prints the epoch time,
/// the test accuracy (line `test accuracy: XX.XX%`; with `--course`, the course's figure
/// beside it) and the classification report, then saves it (`--save`) and draws its
/// curves (`--plot`).
pub fn train_mnist(
    args: &MnistArgs,
    recipe: &MnistRecipe,
    build: impl FnOnce(&Device, Init) -> Result<wgnn::nn::Sequential>,
    optimizer: impl FnOnce(Vec<wgnn::Tensor>, f32) -> Result<wgnn::optim::Optimizer>,
) -> Result<()> {
    use wgnn::nn::Module;
    use wgnn::train::{evaluate, fit, Checkpointing, ConfusionMatrix, FitOptions, Loss};
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
    let (init, lr, schedule_name) = if args.course {
        println!("the course's program: Glorot-uniform initialisation, constant learning rate");
        (Init::GlorotUniform, recipe.course.lr, "constant")
    } else {
        let schedule = args.schedule.as_deref().unwrap_or(recipe.schedule);
        (recipe.init, args.lr.unwrap_or(recipe.lr), schedule)
    };
    wgnn::nn::manual_seed(args.seed);
    let model = build(&device, init)?;
    print!("{}", model.summary(recipe.sample_dims)?);
    if let Some(path) = &args.load {
        wgnn::io::load(&model, path)?;
        println!("loaded the model from {}", path.display());
    }
    let mut optimizer = optimizer(model.parameters(), lr)?;
    let epochs = args.epochs.unwrap_or(recipe.epochs);
    let steps_per_epoch = train.len().div_ceil(args.batch_size.max(1)) as u64;
    let options = FitOptions {
        epochs,
        schedule: schedule(schedule_name, epochs as u64 * steps_per_epoch)?,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: !args.quiet,
        validation_split: args.validation_split,
        checkpoint: args.checkpoint.as_ref().map(Checkpointing::new),
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
    if let Some(ctx) = device.gpu_context() {
        print_tuning(ctx);
    }
    let result = evaluate(&model, &test, Loss::CrossEntropy, 1000)?;
    println!("test loss: {:.4}", result.loss);
    println!(
        "test accuracy: {:.2}%",
        100.0 * result.accuracy.unwrap_or(0.0)
    );
    if args.course {
        let (figure, source) = recipe.course.figure;
        println!(
            "the course's figure: {figure:.2}% after {} epochs on all 60000 images ({source})",
            recipe.epochs
        );
    }
    let matrix = ConfusionMatrix::of_model(&model, &test, 10, 1000)?;
    println!("\nclassification report (test set)\n{}", matrix.report());
    println!("confusion matrix (rows: true digit, columns: predicted)\n{matrix}");
    if let Some(path) = &args.save {
        wgnn::io::save(&model, path)?;
        println!("saved the model to {}", path.display());
    }
    if let Some(path) = &args.plot {
        if history.epochs.is_empty() {
            println!("no curves to draw: no epoch was trained");
        } else {
            wgnn::plot::history(&history, path)?;
            println!("drew the training curves to {}", path.display());
        }
    }
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
    /// Draw the result to this file (.png or .svg): the decision boundary of the 2-D
    /// classifiers (xor, circles, moons), the loss curve of the regression
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Prints what the autotuner did in this run, if anything: shapes tuned, the time it
/// took and where the choices are kept.
pub fn print_tuning(ctx: &wgnn::device::GpuContext) {
    let (records, spent, write_error) = ctx.tuning_records();
    if records.is_empty() {
        return;
    }
    let kept = ctx
        .tune_file()
        .map_or("nowhere".to_string(), |f| f.display().to_string());
    let cut_short = records.iter().filter(|r| !r.complete).count();
    let cut_short = match cut_short {
        0 => String::new(),
        n => format!("; {n} cut short by the time budget, for this run only"),
    };
    println!(
        "autotune: {} shapes tuned in {:.3} s (choices kept in {kept}{cut_short})",
        records.len(),
        spent.as_secs_f64()
    );
    if let Some(e) = write_error {
        println!("autotune: {e}");
    }
    if std::env::var_os("WGNN_TUNE_DEBUG").is_some() {
        for r in &records {
            println!("  {} -> {} {:?}", r.key, r.winner, r.timings);
        }
    }
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
    if let Some(path) = &args.plot {
        wgnn::plot::decision_boundary(&model, data, path)?;
        println!("drew the decision boundary to {}", path.display());
    }
    Ok(())
}
