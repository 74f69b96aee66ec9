//! A training run killed at random moments, most of them while it writes its checkpoint,
//! always leaves a checkpoint that loads, and the next run resumes from it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wgnn::data::Dataset;
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::Optimizer;
use wgnn::train::{fit, Checkpointing, FitOptions, Loss};
use wgnn::{Device, Tensor};

/// Where the child process keeps its checkpoint; set only in the child.
const CHILD_DIR: &str = "WGNN_KILL_TEST_DIR";
const CHILD_TEST: &str = "child_trains_with_a_checkpoint_every_epoch";

/// Two million parameters and a single batch per epoch: a checkpoint (model and Adam's
/// two moments, 24 MB) takes far longer to write than the epoch takes to train.
fn model(device: &Device) -> Sequential {
    wgnn::nn::manual_seed(1);
    Sequential::new()
        .add(Linear::new(1024, 1024, device).unwrap())
        .add(Activation::relu())
        .add(Linear::new(1024, 1000, device).unwrap())
}

fn checkpoint(dir: &Path) -> PathBuf {
    dir.join("run.safetensors")
}

#[test]
#[ignore = "the child process of a_killed_run_always_leaves_a_checkpoint_that_loads"]
fn child_trains_with_a_checkpoint_every_epoch() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let d = Device::Cpu;
    let data = Dataset::from_tensors(
        Tensor::uniform(&[8, 1024], 0.0, 1.0, 3, &d).unwrap(),
        Tensor::from_vec((0..8).map(|i| i as f32).collect(), &[8], &d).unwrap(),
    )
    .unwrap();
    let model = model(&d);
    let mut adam = Optimizer::adam(model.parameters(), 1e-4).unwrap();
    let options = FitOptions {
        epochs: 1_000_000,
        batch_size: 8,
        verbose: false,
        checkpoint: Some(Checkpointing::new(checkpoint(Path::new(&dir)))),
        ..FitOptions::default()
    };
    fit(&model, &mut adam, Loss::CrossEntropy, &data, &options).unwrap();
}

/// The temporary files in `dir`: those of killed writers, and a live writer's.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect()
}

/// The epoch a checkpoint holds, after checking that the model loads from it.
fn loadable_epoch(path: &Path) -> usize {
    let file = wgnn::io::read_tensors(path).expect("the checkpoint must stay readable");
    wgnn::io::load(&model(&Device::Cpu), path).expect("the model must load");
    file.metadata["epoch"].parse().unwrap()
}

#[test]
fn a_killed_run_always_leaves_a_checkpoint_that_loads() {
    let dir = common::scratch_dir("kill");
    let path = checkpoint(&dir);
    let mut last_epoch = 0;
    let mut killed_mid_write = 0;
    for round in 0..8u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([CHILD_TEST, "--exact", "--ignored", "--test-threads", "1"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait for a checkpoint newer than the one the round started from.
        let start = Instant::now();
        let own = format!(".tmp-{}", child.id());
        let stale_left = loop {
            std::thread::sleep(Duration::from_millis(20));
            let newer = std::fs::metadata(&path).is_ok() && {
                let file = wgnn::io::read_tensors(&path);
                file.is_ok_and(|f| f.metadata["epoch"].parse::<usize>().unwrap() > last_epoch)
            };
            if newer {
                // Written after the child removed what the killed ones left behind.
                break temporaries(&dir)
                    .into_iter()
                    .filter(|p| !p.to_string_lossy().ends_with(&own))
                    .collect::<Vec<_>>();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "round {round}: no new checkpoint"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child stopped early"
            );
        };
        // Then kill it (SIGKILL: no cleanup runs): in even rounds as soon as its next
        // write has begun, in odd rounds at a varying moment.
        if round % 2 == 0 {
            let temporary = dir.join(format!(".run.safetensors.tmp-{}", child.id()));
            let start = Instant::now();
            while !temporary.exists() && start.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_micros(200));
            }
        } else {
            std::thread::sleep(Duration::from_millis(13 + (round * 37) % 150));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            stale_left.is_empty(),
            "round {round}: killed runs' temporary files outlived the next write: {stale_left:?}"
        );
        killed_mid_write += usize::from(!temporaries(&dir).is_empty());
        let epoch = loadable_epoch(&path);
        assert!(
            epoch > last_epoch,
            "round {round}: the run must resume and go on"
        );
        last_epoch = epoch;
    }
    assert!(
        killed_mid_write >= 3,
        "only {killed_mid_write} kills landed during a write, so the test showed little"
    );
    eprintln!("{killed_mid_write} of 8 kills landed while a checkpoint was being written");
}
