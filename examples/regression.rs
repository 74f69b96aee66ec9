//! The course's linear regression: ice-cream sales against temperature (a single
//! neuron, y = w·x + b, mean squared error), full-batch gradient descent with Adam.
//! The data follow sales = 20·temperature + 50 + noise, so w should approach 20 and b 50.
//!
//! cargo run --release --example regression -- [--device gpu|cpu] [--epochs N]

mod common;

use clap::Parser;
use common::SmallArgs;
use wgnn::data::synthetic;
use wgnn::nn::{Linear, Module};
use wgnn::optim::Optimizer;
use wgnn::train::{evaluate, fit, FitOptions, Loss};

fn main() {
    common::run(|| {
        let args = SmallArgs::parse();
        let device = common::device(&args.device)?;
        common::announce(&device);
        let data = synthetic::ice_cream(200, args.seed, &device)?;
        wgnn::nn::manual_seed(args.seed);
        let model = Linear::new(1, 1, &device)?;
        let mut adam = Optimizer::adam(model.parameters(), 1.0)?;
        let options = FitOptions {
            epochs: args.epochs.unwrap_or(2000),
            batch_size: data.len(),
            verbose: false,
            ..FitOptions::default()
        };
        let history = fit(&model, &mut adam, Loss::MeanSquaredError, &data, &options)?;
        for e in history
            .epochs
            .iter()
            .filter(|e| e.epoch == 1 || e.epoch % 250 == 0)
        {
            println!("epoch {:>5}: mse {:.2}", e.epoch, e.loss);
        }
        let w = model.weight().item()?;
        let b = model.bias().map(|b| b.item()).transpose()?.unwrap_or(0.0);
        println!("sales ≈ {w:.2} · temperature + {b:.2}   (generated with 20 · t + 50 + noise)");
        println!(
            "final mse: {:.2}",
            evaluate(&model, &data, Loss::MeanSquaredError, data.len())?.loss
        );
        if let Some(path) = &args.plot {
            wgnn::plot::history(&history, path)?;
            println!("drew the loss curve to {}", path.display());
        }
        Ok(())
    });
}
