//! GPU vs CPU: matmul at square sizes and at the MNIST MLP's shapes (forward and the
//! backward products), conv2d forward and forward+backward at the MNIST CNN's shapes, one
//! epoch of the MNIST MLP (`mlp_epoch`) and of the MNIST CNN (`cnn_epoch`), and the CPU
//! cost of recording one op. Times start after a warm-up and include waiting for the GPU
//! to finish.
//!
//! cargo bench --bench gpu_vs_cpu [-- --quick] [-- --json FILE] [-- --filter NAME]

use std::time::{Duration, Instant};
use wgnn::{Device, Result, Tensor};

struct Row {
    name: String,
    flops: f64,
    gpu_s: Option<f64>,
    cpu_s: f64,
}

/// Seconds per call of `f` on `device`: one warm-up call, then repeats until `budget`
/// has passed (at least 2, at most 200), waiting for the device at the end.
fn time(device: &Device, budget: Duration, mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    f()?;
    device.synchronize()?;
    let start = Instant::now();
    let mut reps = 0u32;
    while reps < 2 || (start.elapsed() < budget && reps < 200) {
        let out = f()?;
        reps += 1;
        if reps.is_multiple_of(16) {
            drop(out);
            device.synchronize()?;
        }
    }
    device.synchronize()?;
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// (name, m, k, n, transpose a, transpose b)
type Shape = (String, usize, usize, usize, bool, bool);

fn shapes(quick: bool) -> Vec<Shape> {
    let mut v: Vec<Shape> = Vec::new();
    let sizes: &[usize] = if quick {
        &[128, 512]
    } else {
        &[128, 512, 1024, 2048, 4096]
    };
    for &s in sizes {
        v.push((format!("matmul {s}³"), s, s, s, false, false));
    }
    // The MLP 784-64-32-10 at batch 128: forward, and the weight / input gradients.
    v.push(("mlp x·W1 128x784·784x64".into(), 128, 784, 64, false, false));
    v.push(("mlp xᵀ·dH 784x128·128x64".into(), 784, 128, 64, true, false));
    v.push(("mlp h·W2 128x64·64x32".into(), 128, 64, 32, false, false));
    v.push(("mlp dH·W2ᵀ 128x32·32x64".into(), 128, 32, 64, false, true));
    v.push(("mlp h2·W3 128x32·32x10".into(), 128, 32, 10, false, false));
    v
}

fn operands(
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let a_dims = if ta { [k, m] } else { [m, k] };
    let b_dims = if tb { [n, k] } else { [k, n] };
    Ok((
        Tensor::uniform(&a_dims, -1.0, 1.0, 1, device)?,
        Tensor::uniform(&b_dims, -1.0, 1.0, 2, device)?,
    ))
}

/// The MNIST training set if its files are in `$MNIST_DIR` or data/mnist (never
/// downloaded here), else random images and labels of the same shape.
fn mnist_or_random() -> Result<(wgnn::data::MnistSplit, &'static str)> {
    let dirs = [
        std::env::var("MNIST_DIR").unwrap_or_default(),
        "data/mnist".to_string(),
    ];
    for dir in dirs.iter().filter(|d| !d.is_empty()) {
        if let Ok(m) = wgnn::data::Mnist::load_from(std::path::Path::new(dir)) {
            return Ok((m.train, "MNIST"));
        }
    }
    let images = Tensor::uniform(&[60_000 * 784], 0.0, 255.0, 3, &Device::Cpu)?.to_vec()?;
    let labels = Tensor::uniform(&[60_000], 0.0, 10.0, 4, &Device::Cpu)?.to_vec()?;
    Ok((
        wgnn::data::MnistSplit {
            images: images.into_iter().map(|v| v as u8).collect(),
            labels: labels.into_iter().map(|v| v as u8).collect(),
            image_dims: [28, 28],
        },
        "random data shaped like MNIST",
    ))
}

/// One of the course's MNIST models, as the epoch benchmarks train it.
#[derive(Clone, Copy, PartialEq)]
enum Model {
    /// 784-64-32-10, Adam lr 1e-3.
    Mlp,
    /// The Keras mnist_cnn, Adadelta lr 1.0.
    Cnn,
}

/// Seconds for one epoch (469 steps of batch 128) of `model` through `fit`, which waits
/// for the device at the end of the epoch: the median of 3 epochs. With `steps`, only
/// that many steps are timed per epoch and the time is scaled to 469 steps.
fn epoch(
    model: Model,
    device: &Device,
    split: &wgnn::data::MnistSplit,
    steps: Option<usize>,
) -> Result<f64> {
    use wgnn::nn::Module;
    use wgnn::optim::{Optimizer, Rule};
    use wgnn::train::{fit, FitOptions, Loss};
    let (net, mut optimizer, dims): (_, _, &[usize]) = match model {
        Model::Mlp => {
            let net = wgnn::models::mnist_mlp(device)?;
            let adam = Optimizer::adam(net.parameters(), 1e-3)?;
            (net, adam, &[784])
        }
        Model::Cnn => {
            let net = wgnn::models::mnist_cnn(device, None)?;
            let adadelta = Optimizer::new(net.parameters(), Rule::adadelta(), 1.0)?;
            (net, adadelta, &[1, 28, 28])
        }
    };
    let full = split.dataset(dims, device)?;
    let timed = steps.map_or(full.clone(), |s| full.take(s * 128));
    let options = |epochs| FitOptions {
        epochs,
        batch_size: 128,
        verbose: false,
        ..FitOptions::default()
    };
    let warm_up = full.take(128 * steps.unwrap_or(10).min(10));
    fit(
        &net,
        &mut optimizer,
        Loss::CrossEntropy,
        &warm_up,
        &options(1),
    )?;
    let history = fit(
        &net,
        &mut optimizer,
        Loss::CrossEntropy,
        &timed,
        &options(3),
    )?;
    let mut times: Vec<f64> = history.epochs.iter().map(|e| e.seconds).collect();
    times.sort_by(f64::total_cmp);
    Ok(times[1] * full.len().div_ceil(128) as f64 / timed.len().div_ceil(128) as f64)
}

/// conv2d at the MNIST CNN's shapes: (name, input dims, weight dims, with backward).
fn conv_shapes() -> Vec<(&'static str, [usize; 4], [usize; 4], bool)> {
    vec![
        (
            "conv1 fwd 128x1x28x28 * 32x1x3x3",
            [128, 1, 28, 28],
            [32, 1, 3, 3],
            false,
        ),
        (
            "conv2 fwd 128x32x26x26 * 64x32x3x3",
            [128, 32, 26, 26],
            [64, 32, 3, 3],
            false,
        ),
        (
            "conv2 fwd+bwd (dx, dW, db)",
            [128, 32, 26, 26],
            [64, 32, 3, 3],
            true,
        ),
    ]
}

/// Seconds per conv2d forward (and backward) on `device`.
fn time_conv(
    device: &Device,
    budget: Duration,
    x: [usize; 4],
    w: [usize; 4],
    backward: bool,
) -> Result<f64> {
    let input = Tensor::uniform(&x, -1.0, 1.0, 5, device)?;
    let input = if backward {
        input.requires_grad_()
    } else {
        input
    };
    let weight = Tensor::uniform(&w, -0.1, 0.1, 6, device)?.requires_grad_();
    let bias = Tensor::zeros(&[w[0]], device)?.requires_grad_();
    time(device, budget, || {
        let y = input.conv2d(&weight, Some(&bias), wgnn::ops::Conv2dOptions::default())?;
        if backward {
            y.sum()?.backward()?;
            return Ok(weight.grad().expect("weight has a gradient"));
        }
        Ok(y)
    })
}

/// CPU microseconds to record one small elementwise op on the GPU (no waiting).
fn record_cost(gpu: &Device) -> Result<f64> {
    let x = Tensor::ones(&[128, 64], gpu)?;
    let mut y = x.relu()?;
    gpu.synchronize()?;
    let ops = 2000;
    let start = Instant::now();
    for _ in 0..ops {
        y = y.add_scalar(1.0)?;
    }
    let per_op = start.elapsed().as_secs_f64() / ops as f64;
    gpu.synchronize()?;
    Ok(per_op * 1e6)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let json = value_of("--json");
    let filter = value_of("--filter").unwrap_or_default();
    let wanted = |name: &str| name.contains(filter.as_str());
    let budget = Duration::from_millis(if quick { 200 } else { 1000 });

    let gpu = match Device::gpu() {
        Ok(_) if args.iter().any(|a| a == "--cpu-only") => None,
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("no GPU ({e}); timing the CPU only");
            None
        }
    };
    let cpu = Device::Cpu;
    println!(
        "{}",
        gpu.as_ref()
            .map_or("GPU: none".to_string(), |g| g.describe())
    );
    println!("{}\n", cpu.describe());

    let mut rows = Vec::new();
    for (name, m, k, n, ta, tb) in shapes(quick) {
        if !wanted(&name) {
            continue;
        }
        let flops = 2.0 * (m * k * n) as f64;
        let (a, b) = operands(m, k, n, ta, tb, &cpu)?;
        let cpu_s = time(&cpu, budget, || a.matmul_t(&b, ta, tb))?;
        let gpu_s = match &gpu {
            Some(g) => {
                let (ga, gb) = (a.to_device(g)?, b.to_device(g)?);
                Some(time(g, budget, || ga.matmul_t(&gb, ta, tb))?)
            }
            None => None,
        };
        rows.push(Row {
            name,
            flops,
            gpu_s,
            cpu_s,
        });
        print_row(rows.last().expect("just pushed"));
    }
    for (name, x, w, backward) in conv_shapes() {
        if !wanted(name) {
            continue;
        }
        let out_positions = (x[2] - w[2] + 1) * (x[3] - w[3] + 1);
        let forward_flops = 2.0 * (x[0] * w[0] * w[1] * w[2] * w[3] * out_positions) as f64;
        let cpu_s = time_conv(&cpu, budget, x, w, backward)?;
        let gpu_s = gpu
            .as_ref()
            .map(|g| time_conv(g, budget, x, w, backward))
            .transpose()?;
        rows.push(Row {
            name: name.to_string(),
            flops: forward_flops * if backward { 3.0 } else { 1.0 },
            gpu_s,
            cpu_s,
        });
        print_row(rows.last().expect("just pushed"));
    }
    let (split, source) = mnist_or_random()?;
    let mut epochs = Vec::new();
    for (name, model, cpu_steps, gpu_quick_steps) in [
        ("mlp_epoch", Model::Mlp, None, 20),
        ("cnn_epoch", Model::Cnn, Some(if quick { 2 } else { 20 }), 1),
    ] {
        if !wanted(name) {
            continue;
        }
        let cpu_s = epoch(model, &cpu, &split, cpu_steps)?;
        let gpu_steps = if quick { Some(gpu_quick_steps) } else { None };
        let gpu_s = gpu
            .as_ref()
            .map(|g| epoch(model, g, &split, gpu_steps))
            .transpose()?;
        let scaled = |steps: Option<usize>| {
            steps.map_or("full epoch".to_string(), |s| {
                format!("{s} steps scaled to 469")
            })
        };
        println!(
            "\n{name} (batch 128, {source}; median of 3; CPU: {}, GPU: {}):",
            scaled(cpu_steps),
            scaled(gpu_steps)
        );
        match gpu_s {
            Some(g) => println!(
                "  GPU {g:.3} s | CPU {cpu_s:.3} s | speedup {:.2}x",
                cpu_s / g
            ),
            None => println!("  CPU {cpu_s:.3} s"),
        }
        epochs.push((name, gpu_s, cpu_s));
    }
    let record_us = match &gpu {
        Some(g) => Some(record_cost(g)?),
        None => None,
    };
    if let Some(us) = record_us {
        println!("\nCPU cost of recording one GPU op: {us:.2} µs");
    }
    if let Some(path) = json {
        write_json(&path, &rows, record_us, &epochs, gpu.as_ref())?;
        println!("wrote {path}");
    }
    Ok(())
}

fn print_row(r: &Row) {
    let gflops = |s: f64| r.flops / s / 1e9;
    match r.gpu_s {
        Some(g) => println!(
            "{:<28} GPU {:>10.3} ms {:>9.1} GFLOP/s | CPU {:>10.3} ms {:>9.1} GFLOP/s | speedup {:>7.2}x",
            r.name, g * 1e3, gflops(g), r.cpu_s * 1e3, gflops(r.cpu_s), r.cpu_s / g
        ),
        None => println!("{:<28} CPU {:>10.3} ms {:>9.1} GFLOP/s", r.name, r.cpu_s * 1e3, gflops(r.cpu_s)),
    }
}

fn write_json(
    path: &str,
    rows: &[Row],
    record_us: Option<f64>,
    epochs: &[(&str, Option<f64>, f64)],
    gpu: Option<&Device>,
) -> Result<()> {
    let num = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:e}"));
    let entries: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "    {{\"name\": {:?}, \"flops\": {}, \"gpu_seconds\": {}, \"cpu_seconds\": {:e}}}",
                r.name,
                r.flops,
                num(r.gpu_s),
                r.cpu_s
            )
        })
        .collect();
    let epoch_entries: Vec<String> = epochs
        .iter()
        .map(|(name, g, c)| format!("    {name:?}: {{\"gpu\": {}, \"cpu\": {c:e}}}", num(*g)))
        .collect();
    let gpu_name = gpu.map_or("none".to_string(), |g| g.to_string());
    let text = format!(
        "{{\n  \"gpu\": {gpu_name:?},\n  \"record_us_per_op\": {},\n  \"epoch_seconds\": {{\n{}\n  }},\n  \"kernels\": [\n{}\n  ]\n}}\n",
        num(record_us),
        epoch_entries.join(",\n"),
        entries.join(",\n")
    );
    std::fs::write(path, text)
        .map_err(|e| wgnn::Error::invalid("gpu_vs_cpu", format!("writing {path}: {e}")))
}
