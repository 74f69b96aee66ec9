//! Burn 0.22's wgpu backend (fusion, autotune) on wgnn's two course models, to compare
//! step times with wgnn's GPU path on the same adapter in the same minutes (issue 18):
//! the course MLP (784-64-32-10, ReLU, Adam lr 1e-3) and Keras' MNIST CNN (conv 32 3x3,
//! conv 64 3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5, dense 10; Adam, as
//! Burn has no Adadelta: the optimizer is a negligible share of a step), softmax
//! cross-entropy, batch 128 of random images (the time of a step does not depend on the
//! pixels). Prints each step's wall time (synchronised with the device), then the median
//! of the steps after the warm-up.
//!
//!     cd tools/burn_peer && cargo run --release -- cnn 2 4
//!     (model mlp|cnn, warm-up steps, timed steps)

use burn::{
    nn::{
        conv::{Conv2d, Conv2dConfig},
        loss::CrossEntropyLoss,
        pool::{MaxPool2d, MaxPool2dConfig},
        Dropout, DropoutConfig, Linear, LinearConfig, Relu,
    },
    optim::{AdamConfig, GradientsParams},
    prelude::*,
    tensor::{Device, Distribution},
};
use std::time::Instant;

const BATCH: usize = 128;

#[derive(Module, Debug)]
struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    drop1: Dropout,
    fc1: Linear,
    drop2: Dropout,
    fc2: Linear,
    relu: Relu,
}

impl Cnn {
    fn new(device: &Device) -> Self {
        Cnn {
            conv1: Conv2dConfig::new([1, 32], [3, 3]).init(device),
            conv2: Conv2dConfig::new([32, 64], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            drop1: DropoutConfig::new(0.25).init(),
            fc1: LinearConfig::new(64 * 12 * 12, 128).init(device),
            drop2: DropoutConfig::new(0.5).init(),
            fc2: LinearConfig::new(128, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.relu.forward(self.conv1.forward(x));
        let x = self.relu.forward(self.conv2.forward(x));
        let x = self.drop1.forward(self.pool.forward(x));
        let x = x.reshape([BATCH, 64 * 12 * 12]);
        let x = self.drop2.forward(self.relu.forward(self.fc1.forward(x)));
        self.fc2.forward(x)
    }
}

#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    relu: Relu,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Mlp {
            fc1: LinearConfig::new(784, 64).init(device),
            fc2: LinearConfig::new(64, 32).init(device),
            fc3: LinearConfig::new(32, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = x.reshape([BATCH, 784]);
        let x = self.relu.forward(self.fc1.forward(x));
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}

/// Trains `model` (its forward given) for `warm + timed` steps; each step's seconds.
fn steps<M: Module>(
    mut model: M,
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2>,
    device: &Device,
    count: usize,
) -> Vec<f64> {
    let images = Tensor::<4>::random([BATCH, 1, 28, 28], Distribution::Uniform(0.0, 1.0), device);
    let labels: Vec<i64> = (0..BATCH as i64).map(|i| i * 7 % 10).collect();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [BATCH]), device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLoss::new(None, device);
    let mut times = Vec::new();
    for step in 0..count {
        let start = Instant::now();
        let logits = forward(&model, images.clone());
        let loss = loss_fn.forward(logits, labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        device.sync().expect("the device ran the step");
        let seconds = start.elapsed().as_secs_f64();
        println!("step {step}: {seconds:.3} s");
        times.push(seconds);
    }
    times
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).map_or("cnn", String::as_str);
    let warm: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let timed: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let device = Device::wgpu(Default::default()).autodiff();
    let start = Instant::now();
    let times = match model {
        "mlp" => steps(Mlp::new(&device), Mlp::forward, &device, warm + timed),
        _ => steps(Cnn::new(&device), Cnn::forward, &device, warm + timed),
    };
    let mut steady = times[warm..].to_vec();
    steady.sort_by(f64::total_cmp);
    let median = steady.get(steady.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "burn {model}: warm-up {:.1} s over {warm} steps; steady median {median:.4} s per step ({:.1} s per 469-step epoch); total {:.1} s",
        times[..warm].iter().sum::<f64>(),
        median * 469.0,
        start.elapsed().as_secs_f64()
    );
}
