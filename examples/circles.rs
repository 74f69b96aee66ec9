//! Two concentric circles (1000 points, factor 0.5, noise 0.05): a 2-8-8-1 ReLU network
//! with a sigmoid output (binary cross-entropy on logits), Adam lr 0.01, batch 32,
//! 80/20 train/test split. The course reaches 99% test accuracy.
//!
//! cargo run --release --example circles -- [--device gpu|cpu] [--epochs N]

mod common;

use clap::Parser;
use common::SmallArgs;
use wgnn::data::synthetic;

fn main() {
    common::run(|| {
        let args = SmallArgs::parse();
        let device = common::device(&args.device)?;
        common::announce(&device);
        let data = synthetic::circles(1000, 0.5, 0.05, args.seed, &device)?;
        common::train_2d_classifier(&data, 8, &args, &device)
    });
}
