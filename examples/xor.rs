//! The course's first network: XOR with a 2-4-1 perceptron (tanh hidden layer, sigmoid
//! output through binary cross-entropy on logits), trained twice with plain gradient
//! descent at the same learning rate (0.2): full-batch (one step per epoch on all four points)
//! and stochastic (one step per point), printing both loss curves as the course compares them.
//!
//! cargo run --release --example xor -- [--device gpu|cpu] [--epochs N]

mod common;

use clap::Parser;
use common::SmallArgs;
use wgnn::data::synthetic;
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::Optimizer;
use wgnn::train::{fit, predict, FitOptions, History, Loss};
use wgnn::{Device, Result, Tensor};

fn train(
    device: &Device,
    batch_size: usize,
    epochs: usize,
    seed: u64,
) -> Result<(Sequential, History)> {
    wgnn::nn::manual_seed(seed);
    let model = Sequential::new()
        .add(Linear::new(2, 4, device)?)
        .add(Activation::tanh())
        .add(Linear::new(4, 1, device)?);
    let mut sgd = Optimizer::sgd(model.parameters(), 0.2)?;
    let options = FitOptions {
        epochs,
        batch_size,
        seed,
        verbose: false,
        ..FitOptions::default()
    };
    let history = fit(
        &model,
        &mut sgd,
        Loss::BinaryCrossEntropy,
        &synthetic::xor(device)?,
        &options,
    )?;
    Ok((model, history))
}

fn main() {
    common::run(|| {
        let args = SmallArgs::parse();
        let device = common::device(&args.device)?;
        common::announce(&device);
        let epochs = args.epochs.unwrap_or(500);
        let (full_model, full) = train(&device, 4, epochs, args.seed)?;
        let (sgd_model, sgd) = train(&device, 1, epochs, args.seed)?;
        println!(
            "{:>6}  {:>18}  {:>18}",
            "epoch", "full-batch GD loss", "stochastic GD loss"
        );
        for (f, s) in full.epochs.iter().zip(&sgd.epochs) {
            if f.epoch == 1 || f.epoch % (epochs / 10).max(1) == 0 {
                println!("{:>6}  {:>18.5}  {:>18.5}", f.epoch, f.loss, s.loss);
            }
        }
        let x = Tensor::from_vec(vec![0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2], &device)?;
        let full_p = predict(&full_model, &x)?.sigmoid()?.to_vec()?;
        let sgd_p = predict(&sgd_model, &x)?.sigmoid()?.to_vec()?;
        for (i, input) in [[0, 0], [0, 1], [1, 0], [1, 1]].iter().enumerate() {
            println!(
                "{} xor {} -> full-batch {:.3}, stochastic {:.3}",
                input[0], input[1], full_p[i], sgd_p[i]
            );
        }
        if let Some(path) = &args.plot {
            wgnn::plot::decision_boundary(&full_model, &synthetic::xor(&device)?, path)?;
            println!(
                "drew the full-batch model's decision boundary to {}",
                path.display()
            );
        }
        Ok(())
    });
}
