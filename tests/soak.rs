//! Soak test, not part of the default run: trains the MNIST MLP for 20 epochs on every
//! device (validation every epoch, a checkpoint written every epoch) and checks that the
//! GPU buffer pool and the process's resident memory stay flat after the first epoch
//! (measured from the end of the second, when the first epoch's checkpoint is written).
//!
//! cargo test --release --test soak -- --ignored --nocapture
//!
//! `WGNN_SOAK_EPOCHS` and `WGNN_SOAK_LIMIT` (training images) shorten it.

mod common;

use std::sync::{Arc, Mutex};
use wgnn::data::Mnist;
use wgnn::optim::Optimizer;
use wgnn::train::{fit, Checkpointing, FitOptions, Loss};

/// What is measured at the end of each epoch.
#[derive(Clone, Copy, Debug)]
struct Sample {
    epoch: usize,
    loss: f32,
    resident_bytes: u64,
    /// GPU buffers created so far and bytes the pool holds (0 on the CPU).
    buffers_created: u64,
    pool_bytes: u64,
    /// Bind groups the GPU recorder holds in its (bounded) cache.
    bind_groups: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const MIB: f64 = 1024.0 * 1024.0;

#[test]
#[ignore = "a 20-epoch soak test: cargo test --release --test soak -- --ignored --nocapture"]
fn twenty_epochs_keep_the_buffer_pool_and_process_memory_flat() {
    let epochs = env_or("WGNN_SOAK_EPOCHS", 20);
    let mnist = Mnist::load(None).expect("MNIST (set MNIST_DIR)");
    let limit = env_or("WGNN_SOAK_LIMIT", mnist.train.len());
    let dir = common::scratch_dir("soak");
    for device in common::devices() {
        let train = mnist.train.take(limit).dataset(&[784], &device).unwrap();
        wgnn::nn::manual_seed(7);
        let model = wgnn::models::mnist_mlp(&device).unwrap();
        let mut adam = Optimizer::adam(wgnn::nn::Module::parameters(&model), 1e-3).unwrap();
        let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
        let sink = samples.clone();
        let measuring = device.clone();
        let options = FitOptions {
            epochs,
            batch_size: 128,
            verbose: false,
            validation_split: Some(0.1),
            checkpoint: Some(Checkpointing::new(
                dir.join(format!("{device}.safetensors")),
            )),
            on_epoch_end: Some(Arc::new(move |stats| {
                let stats_now = measuring.gpu_context().map(|c| c.stats());
                sink.lock().unwrap().push(Sample {
                    epoch: stats.epoch,
                    loss: stats.loss,
                    resident_bytes: common::process_memory("VmRSS"),
                    buffers_created: stats_now.map_or(0, |s| s.buffers_created),
                    pool_bytes: stats_now.map_or(0, |s| s.bytes_held),
                    bind_groups: stats_now.map_or(0, |s| s.bind_groups),
                });
                true
            })),
            ..FitOptions::default()
        };
        let started = std::time::Instant::now();
        fit(&model, &mut adam, Loss::CrossEntropy, &train, &options).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let samples = samples.lock().unwrap().clone();
        println!("\n{device}: {epochs} epochs of {limit} images in {seconds:.1} s");
        println!(
            "epoch  loss    resident MiB  GPU buffers created  GPU pool MiB  bind groups cached"
        );
        for s in &samples {
            println!(
                "{:>5}  {:.4}  {:>12.1}  {:>19}  {:>12.1}  {:>18}",
                s.epoch,
                s.loss,
                s.resident_bytes as f64 / MIB,
                s.buffers_created,
                s.pool_bytes as f64 / MIB,
                s.bind_groups
            );
        }
        assert_eq!(samples.len(), epochs);
        // The baseline is the end of epoch 2: the first epoch's checkpoint is written
        // after its sample, and its readback buffers are part of the first epoch's work.
        let first = samples[1];
        let last = samples[epochs - 1];
        assert!(last.loss < first.loss, "training did not progress");
        assert_eq!(
            (last.buffers_created, last.pool_bytes),
            (first.buffers_created, first.pool_bytes),
            "{device}: the GPU pool grew after the first epoch"
        );
        let growth = last.resident_bytes as f64 - first.resident_bytes as f64;
        println!(
            "resident memory from epoch 2 to {epochs}: {:+.1} MiB",
            growth / MIB
        );
        assert!(
            growth < 16.0 * MIB,
            "{device}: resident memory grew by {:.1} MiB after the second epoch",
            growth / MIB
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
