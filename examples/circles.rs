//! Two concentric circles (1000 points, factor 0.5, noise 0.05): a 2-8-8-1 ReLU network
//! with a sigmoid output (binary cross-entropy on logits), Adam lr 0.01, batch 32,
//! 80/20 train/test split. The course reaches 99% test accuracy.
//!
//! cargo run --release --example circles -- [--device gpu|cpu] [--epochs N]

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
        let data = synthetic::circles(1000, 0.5, 0.05, args.seed, &device)?;
        let (train, test) = data.split(0.2)?;
        wgnn::nn::manual_seed(args.seed);
        let model = Sequential::new()
            .add(Linear::new(2, 8, &device)?)
            .add(Activation::relu())
            .add(Linear::new(8, 8, &device)?)
            .add(Activation::relu())
            .add(Linear::new(8, 1, &device)?);
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
