//! Two moons (1000 points, noise 0.2): a 2-16-16-1 ReLU network with a sigmoid output
//! (binary cross-entropy on logits), Adam lr 0.01, batch 32, 80/20 train/test split.
//!
//! cargo run --release --example moons -- [--device gpu|cpu] [--epochs N]

mod common;

use clap::Parser;
use common::SmallArgs;
use wgnn::data::synthetic;

fn main() {
    common::run(|| {
        let args = SmallArgs::parse();
        let device = common::device(&args.device)?;
        common::announce(&device);
        let data = synthetic::moons(1000, 0.2, args.seed, &device)?;
        common::train_2d_classifier(&data, 16, &args, &device)
    });
}
