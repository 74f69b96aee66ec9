//! The examples exit with status 1 and one `error:` line naming the fault, never a panic,
//! for each bad input a user can hand them: damaged MNIST files, bad flags, model files
//! that are missing, damaged or of another model, pictures that are not pictures.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A compiled example. `cargo test` builds them all before running the tests.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let path = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test` (which builds the examples) or `cargo build \
         --examples` first",
        path.display()
    );
    path
}

/// A small MNIST of `n` 28x28 images per split.
fn write_small_mnist(dir: &Path, n: u32) {
    common::write_mnist(dir, 28, &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
}

/// Runs `program` with `args`, expects status 1 and an `error:` line containing `what`.
fn fails_with(program: &str, args: &[&str], what: &str) {
    exits_with(program, args, None, 1, what)
}

/// [`fails_with`] with `$MNIST_DIR` set to `mnist_dir`.
fn fails_with_mnist_dir(program: &str, args: &[&str], mnist_dir: &Path, what: &str) {
    exits_with(program, args, Some(mnist_dir), 1, what)
}

/// Runs `program` with `args` and `$MNIST_DIR` set to `mnist_dir` (removed when `None`),
/// expects status `code` (1: wgnn refused an input; 2: the flags' parser refused them)
/// and an `error:` line containing `what`.
fn exits_with(program: &str, args: &[&str], mnist_dir: Option<&Path>, code: i32, what: &str) {
    let mut command = Command::new(example(program));
    command
        .args(args)
        .env("WGNN_MNIST_MIRROR", "http://127.0.0.1:9/") // nothing listens: no download
        .env_remove("MNIST_DIR");
    if let Some(dir) = mnist_dir {
        command.env("MNIST_DIR", dir);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!(
        "{program} {args:?}\nstatus {}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(output.status.code(), Some(code), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    let error_line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {context}"));
    assert!(error_line.contains(what), "expected {what:?} in: {context}");
}

#[test]
fn mnist_mlp_exits_with_a_message_for_each_damaged_data_file() {
    let dir = common::scratch_dir("exit-mnist-files");
    let data = dir.to_str().unwrap();
    let args = [
        "--device", "cpu", "--epochs", "1", "--data", data, "--quiet",
    ];
    fails_with("mnist_mlp", &args, "train-images-idx3-ubyte");

    write_small_mnist(&dir, 20);
    let images = dir.join("train-images-idx3-ubyte");
    let labels = dir.join("train-labels-idx1-ubyte");
    let good_images = std::fs::read(&images).unwrap();
    std::fs::write(&images, &good_images[..good_images.len() - 5]).unwrap();
    fails_with("mnist_mlp", &args, "truncated");
    std::fs::write(&images, b"GIF89a not an idx file").unwrap();
    fails_with("mnist_mlp", &args, "magic");
    std::fs::remove_file(&images).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), b"<html>404</html>").unwrap();
    fails_with("mnist_mlp", &args, "neither gzip");
    std::fs::remove_file(dir.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(&images, std::fs::read(&labels).unwrap()).unwrap();
    fails_with("mnist_mlp", &args, "a label file?");
    std::fs::write(&images, &good_images).unwrap();
    std::fs::write(&labels, common::idx_file(&[19], &[1; 19])).unwrap();
    fails_with("mnist_mlp", &args, "19 labels for 20 images");
    std::fs::write(&labels, common::idx_file(&[20], &[10; 20])).unwrap();
    fails_with("mnist_mlp", &args, "is 10");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_explicit_data_folder_is_never_replaced_by_another() {
    // $MNIST_DIR and the working directory's data/mnist/ both hold the real MNIST, so a
    // silent fallback from --data would train and exit 0.
    let real = common::mnist_dir();
    let dir = common::scratch_dir("exit-data-folder");
    write_small_mnist(&dir, 20);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    for program in ["mnist_mlp", "mnist_cnn"] {
        let run = |data: &Path, what: &str| {
            let args = [
                "--device",
                "cpu",
                "--epochs",
                "1",
                "--quiet",
                "--data",
                data.to_str().unwrap(),
            ];
            fails_with_mnist_dir(program, &args, &real, what);
        };
        run(
            &dir,
            "t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)",
        );
        run(&dir.join("train-images-idx3-ubyte"), "is a file");
        run(&dir.join("nowhere"), "no such folder");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_course_flag_refuses_flags_that_would_change_the_program() {
    let dir = common::scratch_dir("exit-course");
    write_small_mnist(&dir, 20);
    let data = dir.to_str().unwrap();
    for (program, extra) in [
        ("mnist_mlp", ["--lr", "0.1"]),
        ("mnist_mlp", ["--schedule", "cosine"]),
        ("mnist_mlp", ["--batch-size", "10"]),
        ("mnist_cnn", ["--augment", "--quiet"]),
    ] {
        let mut args = vec!["--course", "--data", data];
        args.extend_from_slice(&extra);
        exits_with(program, &args, None, 2, "cannot be used with");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mnist_mlp_exits_with_a_message_for_each_bad_flag_or_model_file() {
    let dir = common::scratch_dir("exit-mnist-flags");
    write_small_mnist(&dir, 20);
    let data = dir.to_str().unwrap();
    let run = |extra: &[&str], what: &str| {
        let mut args = vec![
            "--device", "cpu", "--epochs", "1", "--data", data, "--quiet",
        ];
        args.extend_from_slice(extra);
        fails_with("mnist_mlp", &args, what);
    };
    run(&["--batch-size", "0"], "at least 1, got 0");
    run(
        &["--batch-size", "21"],
        "larger than the training set (20 samples)",
    );
    run(&["--lr", "NaN"], "NaN");
    run(&["--lr=-1"], "-1");
    run(&["--validation-split", "1.5"], "1.5");
    run(&["--schedule", "sometimes"], "sometimes");
    fails_with("mnist_mlp", &["--device", "tpu", "--data", data], "tpu");

    let missing = dir.join("missing.safetensors");
    run(&["--load", missing.to_str().unwrap()], "could not read");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, [0xff; 64]).unwrap();
    run(
        &["--load", garbage.to_str().unwrap()],
        "not a valid safetensors",
    );
    let other = dir.join("other.safetensors");
    let linear = wgnn::nn::Linear::new(3, 2, &wgnn::Device::Cpu).unwrap();
    wgnn::io::save(&linear, &other).unwrap();
    run(
        &["--load", other.to_str().unwrap()],
        "does not match the model",
    );
    let bytes = std::fs::read(&other).unwrap();
    std::fs::write(&other, &bytes[..bytes.len() - 4]).unwrap();
    run(
        &["--load", other.to_str().unwrap()],
        "not a valid safetensors",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn predict_digit_exits_with_a_message_for_each_bad_model_or_picture() {
    let dir = common::scratch_dir("exit-predict");
    let digit = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/digits/7.png");
    let other = dir.join("other.safetensors");
    let linear = wgnn::nn::Linear::new(3, 2, &wgnn::Device::Cpu).unwrap();
    wgnn::io::save(&linear, &other).unwrap();
    let other = other.to_str().unwrap();
    fails_with(
        "predict_digit",
        &[other, digit],
        "expected a model saved by mnist_mlp",
    );
    fails_with(
        "predict_digit",
        &["nowhere.safetensors", digit],
        "could not read",
    );

    let mlp = dir.join("mlp.safetensors");
    wgnn::io::save(&wgnn::models::mnist_mlp(&wgnn::Device::Cpu).unwrap(), &mlp).unwrap();
    let mlp = mlp.to_str().unwrap();
    let text = dir.join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    fails_with("predict_digit", &[mlp, text.to_str().unwrap()], "notes.png");
    fails_with("predict_digit", &[mlp, "nowhere.png"], "nowhere.png");
    let blank = dir.join("blank.png");
    image::GrayImage::new(10, 10).save(&blank).unwrap();
    fails_with(
        "predict_digit",
        &[mlp, blank.to_str().unwrap()],
        "blank.png",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
