//! GPU vs CPU: matmul at square sizes and at the MNIST MLP's shapes (forward and the
//! backward products), one epoch of the MNIST MLP (`mlp_epoch`), and the CPU cost of
//! recording one op. Times start after a warm-up
//! and include waiting for the GPU to finish.
//!
//! cargo bench --bench gpu_vs_cpu [-- --quick] [-- --json FILE]

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

/// Seconds for one epoch of the course's MLP (784-64-32-10, Adam, batch 128) through
/// `fit`, which waits for the device at the end of the epoch. With `steps`, only that
/// many steps are timed and the time is scaled to the 469 steps of an epoch.
fn mlp_epoch(device: &Device, split: &wgnn::data::MnistSplit, steps: Option<usize>) -> Result<f64> {
    use wgnn::nn::Module;
    use wgnn::train::{fit, FitOptions, Loss};
    let full = split.dataset(&[784], device)?;
    let timed = steps.map_or(full.clone(), |s| full.take(s * 128));
    let model = wgnn::models::mnist_mlp(device)?;
    let mut adam = wgnn::optim::Optimizer::adam(model.parameters(), 1e-3)?;
    let options = |epochs| FitOptions {
        epochs,
        batch_size: 128,
        verbose: false,
        ..FitOptions::default()
    };
    fit(
        &model,
        &mut adam,
        Loss::CrossEntropy,
        &full.take(1280),
        &options(1),
    )?; // warm-up
    let history = fit(&model, &mut adam, Loss::CrossEntropy, &timed, &options(3))?;
    let mut times: Vec<f64> = history.epochs.iter().map(|e| e.seconds).collect();
    times.sort_by(f64::total_cmp);
    Ok(times[1] * full.len().div_ceil(128) as f64 / timed.len().div_ceil(128) as f64)
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
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let budget = Duration::from_millis(if quick { 200 } else { 1000 });

    let gpu = match Device::gpu() {
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
    let (split, source) = mnist_or_random()?;
    let cpu_epoch = mlp_epoch(&cpu, &split, None)?;
    let gpu_steps = if quick { Some(20) } else { None };
    let gpu_epoch = gpu
        .as_ref()
        .map(|g| mlp_epoch(g, &split, gpu_steps))
        .transpose()?;
    println!(
        "\nmlp_epoch (784-64-32-10, Adam, batch 128, {source}; median of 3 epochs{}):",
        if gpu_steps.is_some() {
            ", GPU: 20 steps scaled to 469"
        } else {
            ""
        }
    );
    match gpu_epoch {
        Some(g) => println!(
            "  GPU {g:.3} s | CPU {cpu_epoch:.3} s | speedup {:.2}x",
            cpu_epoch / g
        ),
        None => println!("  CPU {cpu_epoch:.3} s"),
    }
    let record_us = match &gpu {
        Some(g) => Some(record_cost(g)?),
        None => None,
    };
    if let Some(us) = record_us {
        println!("\nCPU cost of recording one GPU op: {us:.2} µs");
    }
    if let Some(path) = json {
        write_json(
            &path,
            &rows,
            record_us,
            (gpu_epoch, cpu_epoch),
            gpu.as_ref(),
        )?;
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
    mlp_epoch: (Option<f64>, f64),
    gpu: Option<&Device>,
) -> Result<()> {
    let num = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:e}"));
    let entries: Vec<String> =
        rows.iter()
            .map(|r| {
                format!(
                "    {{\"name\": {:?}, \"flops\": {}, \"gpu_seconds\": {}, \"cpu_seconds\": {:e}}}",
                r.name, r.flops, num(r.gpu_s), r.cpu_s
            )
            })
            .collect();
    let gpu_name = gpu.map_or("none".to_string(), |g| g.to_string());
    let text = format!(
        "{{\n  \"gpu\": {gpu_name:?},\n  \"record_us_per_op\": {},\n  \"mlp_epoch_seconds\": {{\"gpu\": {}, \"cpu\": {:e}}},\n  \"matmul\": [\n{}\n  ]\n}}\n",
        num(record_us),
        num(mlp_epoch.0),
        mlp_epoch.1,
        entries.join(",\n")
    );
    std::fs::write(path, text)
        .map_err(|e| wgnn::Error::invalid("gpu_vs_cpu", format!("writing {path}: {e}")))
}
