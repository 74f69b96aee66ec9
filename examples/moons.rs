//! Two moons (1000 points, noise 0.2): a 2-16-16-1 ReLU network
//! with a sigmoid output (binary cross-entropy on logits), Adam lr 0.01, batch 32,
//! 80/20 train/test split.
//!
//! cargo run --release --example moons -- [--device gpu|cpu] [--epochs N]

mod common;

use clap::Parser;
use common::SmallArgs;
use wgnn::data::synthetic;
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::Optimizer;
use wgnn::train::{evaluate, fit, FitOptions, Loss};

fn main() {
    common::run(|| {
        let args = SmallArgs::parse();
        let device = common::device(&args.device)?;
        common::announce(&device);
        let data = synthetic::moons(1000, 0.2, args.seed, &device)?;
        let (train, test) = data.split(0.2)?;
        wgnn::nn::manual_seed(args.seed);
        let model = Sequential::new()
            .add(Linear::new(2, 16, &device)?)
            .add(Activation::relu())
            .add(Linear::new(16, 16, &device)?)
            .add(Activation::relu())
            .add(Linear::new(16, 1, &device)?);
        let mut adam = Optimizer::adam(model.parameters(), 0.01)?;
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
    });
}
