//! Classifies pictures of handwritten digits with a model saved by mnist_mlp or mnist_cnn
//! (`--save`). Any PNG works: it is made grey, white on black, and fitted and centred in
//! 28x28 as MNIST's digits are (`wgnn::data::read_digit`). The architecture is recognised
//! from the saved tensors.
//!
//! cargo run --release --example mnist_mlp -- --save mlp.safetensors
//! cargo run --release --example predict_digit -- mlp.safetensors examples/digits/*.png

mod common;

use clap::Parser;
use std::path::PathBuf;
use wgnn::nn::Sequential;
use wgnn::{Error, Result};

/// predict_digit's flags.
#[derive(Parser, Debug)]
struct Args {
    /// A model saved by mnist_mlp or mnist_cnn with --save (or a checkpoint of either)
    model: PathBuf,
    /// PNG pictures of single digits
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// gpu, cpu, or best
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// The course's model whose first layer the file holds, and the shape of its samples.
fn model_for(
    file: &wgnn::io::TensorFile,
    device: &wgnn::Device,
) -> Result<(Sequential, Vec<usize>)> {
    let first = ["0.weight", "model.0.weight"]
        .iter()
        .find_map(|name| file.tensors.get(*name))
        .map(|t| t.dims.clone());
    match first.as_deref() {
        Some([64, 784]) => Ok((wgnn::models::mnist_mlp(device)?, vec![1, 784])),
        Some([32, 1, 3, 3]) => Ok((wgnn::models::mnist_cnn(device, None)?, vec![1, 1, 28, 28])),
        other => Err(Error::invalid(
            "predict_digit",
            format!(
                "expected a model saved by mnist_mlp (0.weight of [64, 784]) or mnist_cnn \
                 ([32, 1, 3, 3]), found {}",
                match other {
                    Some(dims) => format!("0.weight of {dims:?}"),
                    None => "no tensor named 0.weight".to_string(),
                }
            ),
        )),
    }
}

fn main() {
    common::run(|| {
        let args = Args::parse();
        let device = common::device(&args.device)?;
        let file = wgnn::io::read_tensors(&args.model)?;
        let (model, input_dims) = model_for(&file, &device)?;
        wgnn::io::load_file(&model, &file, &args.model.display())?;
        for path in &args.images {
            let digit = wgnn::data::read_digit(path, &device)?.reshape(&input_dims)?;
            let logits = wgnn::train::predict(&model, &digit)?;
            let probabilities = logits.softmax()?.to_vec()?;
            let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let others: Vec<String> = ranked[1..3]
                .iter()
                .map(|(d, p)| format!("{d} {:.1}%", 100.0 * p))
                .collect();
            println!(
                "{}: {} ({:.1}%; then {})",
                path.display(),
                ranked[0].0,
                100.0 * ranked[0].1,
                others.join(", ")
            );
        }
        Ok(())
    });
}
