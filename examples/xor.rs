//! The course's first network: XOR with a 2-4-1 perceptron, tanh hidden layer, sigmoid
//! output (binary cross-entropy on logits), full-batch gradient descent. Runs on the best
//! device (`--device cpu|gpu` to choose) and prints the loss falling.

use wgnn::{no_grad, Device, Result, Tensor};

fn device_from_args() -> Result<Device> {
    let args: Vec<String> = std::env::args().collect();
    match args
        .iter()
        .position(|a| a == "--device")
        .and_then(|i| args.get(i + 1))
    {
        Some(name) if name == "cpu" => Ok(Device::cpu()),
        Some(name) if name == "gpu" => Device::gpu(),
        Some(other) => Err(wgnn::Error::invalid(
            "xor",
            format!("--device must be cpu or gpu, got {other}"),
        )),
        None => Ok(Device::best()),
    }
}

fn run() -> Result<()> {
    let device = device_from_args()?;
    println!(
        "device: {}",
        device.describe().lines().next().unwrap_or_default()
    );
    let x = Tensor::from_vec(vec![0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2], &device)?;
    let y = Tensor::from_vec(vec![0., 1., 1., 0.], &[4, 1], &device)?;
    // Xavier/Glorot-uniform initial weights, zero biases.
    let limit1 = (6.0f32 / (2 + 4) as f32).sqrt();
    let limit2 = (6.0f32 / (4 + 1) as f32).sqrt();
    let mut params = vec![
        Tensor::uniform(&[2, 4], -limit1, limit1, 1, &device)?.requires_grad_(),
        Tensor::zeros(&[4], &device)?.requires_grad_(),
        Tensor::uniform(&[4, 1], -limit2, limit2, 2, &device)?.requires_grad_(),
        Tensor::zeros(&[1], &device)?.requires_grad_(),
    ];
    let learning_rate = 1.0;
    for epoch in 0..=1000 {
        let hidden = x.matmul(&params[0])?.add(&params[1])?.tanh()?;
        let logits = hidden.matmul(&params[2])?.add(&params[3])?;
        let loss = logits.bce_with_logits_loss(&y)?;
        loss.backward()?;
        params = no_grad(|| {
            params
                .iter()
                .map(|p| {
                    let grad = p.grad().expect("every parameter takes part in the loss");
                    Ok(p.sub(&grad.mul_scalar(learning_rate)?)?.requires_grad_())
                })
                .collect::<Result<Vec<_>>>()
        })?;
        if epoch % 100 == 0 {
            println!("epoch {epoch:4}  loss {:.5}", loss.item()?);
        }
    }
    let hidden = x.matmul(&params[0])?.add(&params[1])?.tanh()?;
    let probs = hidden
        .matmul(&params[2])?
        .add(&params[3])?
        .sigmoid()?
        .to_vec()?;
    for (input, p) in [[0, 0], [0, 1], [1, 0], [1, 1]].iter().zip(probs) {
        println!("{} xor {} -> {p:.3}", input[0], input[1]);
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
