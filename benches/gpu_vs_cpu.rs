//! GPU vs CPU, the same work on both paths: matmul at square sizes and at the MNIST MLP's
//! shapes, a device-to-device copy (the memory ceiling), an elementwise op and a sum over
//! 64 MiB, softmax cross-entropy forward and backward, conv2d forward and backward at the
//! MNIST CNN's shapes, and the MNIST MLP and CNN training epochs (`mlp_epoch`,
//! `cnn_epoch`, and from them one step; on the GPU also what a step costs the runtime:
//! dispatches and submits per step, submits and host waits per epoch, and the recording
//! thread's CPU time per step, the median over 5 pairs of epochs of 2 and 22 steps), plus
//! the CPU cost of recording one GPU op.
//! Each figure is the median of 5 samples, each sample a run of repeats long enough to
//! time, after a warm-up; the spread is the range of the samples. Times include waiting
//! for the GPU to finish.
//!
//! cargo bench --bench gpu_vs_cpu [-- --quick] [-- --json FILE] [-- --filter NAME]
//!     [-- --cpu-only] [-- --check] [-- --tune]
//!
//! `--check` times nothing: it runs every op of the tests' case table on the GPU against
//! the CPU path and exits non-zero when one differs (`--filter` picks ops by name).
//! `--tune` runs a full autotuning sweep over the products (the matmul rows), keeps its
//! choices in the tuning file, and times each product with every variant forced and with
//! the tuner's choice.

#[path = "gpu_vs_cpu/check.rs"]
mod check;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "gpu_vs_cpu/tune.rs"]
mod tune;

use std::time::{Duration, Instant};
use wgnn::{Device, Result, Tensor};

/// What a row's work is measured in.
#[derive(Clone, Copy)]
enum Work {
    /// Floating-point operations (rate in GFLOP/s).
    Flops(f64),
    /// Bytes read and written (rate in GB/s, and as a share of the copy bandwidth).
    Bytes(f64),
}

/// Median, fastest and slowest sample, in seconds (or the unit a field names).
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    max: f64,
}

impl Timing {
    fn from_samples(mut samples: Vec<f64>) -> Timing {
        samples.sort_by(f64::total_cmp);
        Timing {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    /// "12.345 ms ±3%": the median and half the range as a share of it.
    fn show(&self) -> String {
        let spread = 50.0 * (self.max - self.min) / self.median.max(1e-12);
        format!("{:>10.3} ms ±{spread:<3.0}%", self.median * 1e3)
    }
}

struct Row {
    name: String,
    work: Work,
    gpu: Option<Timing>,
    cpu: Timing,
}

/// How long to time each figure, in how many samples.
#[derive(Clone, Copy)]
struct Budget {
    total: Duration,
    samples: usize,
    /// Samples of a call whose warm-up alone outlasted `total` (a conv on a software
    /// adapter): one in quick mode, where the whole bench must fit in CI's minutes.
    slow_samples: usize,
}

/// Seconds per call of `f` on `device`: one warm-up call, then `budget.samples` samples, each
/// repeating `f` until its share of `budget` has passed (at least once, at most 200
/// times) and waiting for the device at its end; `budget.slow_samples` samples when the
/// warm-up call alone took longer than the whole budget.
fn time(device: &Device, budget: Budget, mut f: impl FnMut() -> Result<Tensor>) -> Result<Timing> {
    let warm_up = Instant::now();
    f()?;
    device.synchronize()?;
    let count = if warm_up.elapsed() > budget.total {
        budget.slow_samples
    } else {
        budget.samples
    };
    let per_sample = budget.total / budget.samples as u32;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        let mut reps = 0u32;
        while reps < 1 || (start.elapsed() < per_sample && reps < 200) {
            let out = f()?;
            reps += 1;
            if reps.is_multiple_of(16) {
                drop(out);
                device.synchronize()?;
            }
        }
        device.synchronize()?;
        samples.push(start.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(Timing::from_samples(samples))
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

/// What a training step costs the GPU runtime, counted (exact on any adapter) beside the
/// host's own time.
#[derive(Clone, Copy)]
struct StepCosts {
    /// Dispatches one more step records.
    dispatches_per_step: u64,
    /// Queue submissions one more step makes.
    submits_per_step: u64,
    /// Submissions and host waits over one timed epoch, and its steps.
    submits_per_epoch: u64,
    host_waits_per_epoch: u64,
    epoch_steps: usize,
    /// The recording thread's CPU time per step (recording), in µs: median and range over
    /// [`RECORDING_PAIRS`] pairs of epochs.
    host_us_per_step: Timing,
}

/// Counters and host time of one `fit` run of `data` with `options` on the GPU:
/// dispatches, submits, seconds of the recording thread's CPU time (where the platform
/// tells it; else wall time outside GPU waits).
fn counted_fit(
    net: &wgnn::nn::Sequential,
    optimizer: &mut wgnn::optim::Optimizer,
    data: &wgnn::data::Dataset,
    options: &wgnn::train::FitOptions,
    ctx: &wgnn::device::GpuContext,
) -> Result<(u64, u64, f64)> {
    let before = ctx.stats();
    let start = Instant::now();
    let cpu_start = wgnn::device::thread_cpu_time();
    wgnn::train::fit(
        net,
        optimizer,
        wgnn::train::Loss::CrossEntropy,
        data,
        options,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let after = ctx.stats();
    let waited = (after.host_wait_nanos - before.host_wait_nanos) as f64 * 1e-9;
    // The recording thread's CPU time less what it spent inside waits (lavapipe spins).
    let wait_cpu = (after.host_wait_cpu_nanos - before.host_wait_cpu_nanos) as f64 * 1e-9;
    let host = match (cpu_start, wgnn::device::thread_cpu_time()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() - wait_cpu,
        _ => seconds - waited,
    };
    Ok((
        after.dispatches - before.dispatches,
        after.submits - before.submits,
        host,
    ))
}

/// Seconds for one epoch (469 steps of batch 128) of `model` through `fit`, which waits
/// for the device at the end of the epoch: 3 epochs (median and range). With `steps`, only
/// that many steps are timed per epoch and the time is scaled to 469 steps. On the GPU,
/// with `count`, also what a step costs the runtime ([`StepCosts`]), from epochs of 2 and
/// 22 steps.
fn epoch(
    model: Model,
    device: &Device,
    split: &wgnn::data::MnistSplit,
    steps: Option<usize>,
    count: bool,
) -> Result<(Timing, Option<StepCosts>)> {
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
    let mut costs = None;
    if let Some(ctx) = device.gpu_context().filter(|_| count) {
        // Epochs of 2 and 22 steps: their difference is 20 steps' worth. The counts are
        // exact; the recording time is the median of RECORDING_PAIRS such pairs.
        let mut counted =
            |data: &wgnn::data::Dataset| counted_fit(&net, &mut optimizer, data, &options(1), ctx);
        let (short_data, long_data) = (full.take(2 * 128), full.take(22 * 128));
        let mut per_step = Vec::with_capacity(RECORDING_PAIRS);
        let mut counts = (0, 0);
        for _ in 0..RECORDING_PAIRS {
            let short = counted(&short_data)?;
            let long = counted(&long_data)?;
            counts = ((long.0 - short.0) / 20, long.1.saturating_sub(short.1) / 20);
            per_step.push((long.2 - short.2) * 1e6 / 20.0);
        }
        costs = Some(StepCosts {
            dispatches_per_step: counts.0,
            submits_per_step: counts.1,
            submits_per_epoch: 0,
            host_waits_per_epoch: 0,
            epoch_steps: timed.len().div_ceil(128),
            host_us_per_step: Timing::from_samples(per_step),
        });
    }
    let before = device.gpu_context().map(|ctx| ctx.stats());
    let history = fit(
        &net,
        &mut optimizer,
        Loss::CrossEntropy,
        &timed,
        &options(3),
    )?;
    if let (Some(ctx), Some(before), Some(c)) = (device.gpu_context(), before, costs.as_mut()) {
        let after = ctx.stats();
        c.submits_per_epoch = (after.submits - before.submits) / 3;
        c.host_waits_per_epoch = (after.host_waits - before.host_waits) / 3;
    }
    let scale = full.len().div_ceil(128) as f64 / timed.len().div_ceil(128) as f64;
    let times = history.epochs.iter().map(|e| e.seconds * scale).collect();
    Ok((Timing::from_samples(times), costs))
}

/// How many pairs of short and long epochs the recording figure takes its median over.
const RECORDING_PAIRS: usize = 5;

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
    budget: Budget,
    x: [usize; 4],
    w: [usize; 4],
    backward: bool,
) -> Result<Timing> {
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

/// Values in the 64 MiB memory-bound rows.
const BIG: usize = 16 << 20;

/// The memory-bound rows: (name, bytes moved, the op).
type MemoryRow = (&'static str, f64, fn(&Tensor) -> Result<Tensor>);

fn memory_rows() -> Vec<MemoryRow> {
    let bytes = (BIG * 4) as f64;
    vec![
        ("relu 64 MiB (read + write)", 2.0 * bytes, |x| x.relu()),
        ("sum 64 MiB (read)", bytes, |x| x.sum()),
    ]
}

/// Seconds per device-to-device copy of 64 MiB (on the CPU, one slice per core): the
/// memory ceiling of each path.
fn time_copy(device: &Device, budget: Budget) -> Result<Timing> {
    match device.gpu_context() {
        Some(ctx) => {
            let (src, dst) = (ctx.zeros(BIG)?, ctx.alloc(BIG, "copy benchmark")?);
            let dummy = Tensor::zeros(&[1], device)?;
            time(device, budget, || {
                ctx.copy(&src, &dst, BIG);
                Ok(dummy.clone())
            })
        }
        None => {
            let (src, mut dst) = (vec![1.0f32; BIG], vec![0.0f32; BIG]);
            let dummy = Tensor::zeros(&[1], device)?;
            time(device, budget, || {
                use rayon::prelude::*;
                let chunk = BIG / rayon::current_num_threads().max(1);
                dst.par_chunks_mut(chunk)
                    .zip(src.par_chunks(chunk))
                    .for_each(|(d, s)| d.copy_from_slice(s));
                std::hint::black_box(&dst);
                Ok(dummy.clone())
            })
        }
    }
}

/// Seconds per softmax cross-entropy forward and backward over (rows, classes) logits.
fn time_cross_entropy(
    device: &Device,
    budget: Budget,
    [rows, classes]: [usize; 2],
) -> Result<Timing> {
    let logits = Tensor::uniform(&[rows, classes], -4.0, 4.0, 7, device)?.requires_grad_();
    let labels: Vec<f32> = (0..rows).map(|i| (i * 7 % classes) as f32).collect();
    let labels = Tensor::from_vec(labels, &[rows], device)?;
    time(device, budget, || {
        logits.zero_grad();
        logits.cross_entropy(&labels)?.backward()?;
        Ok(logits.grad().expect("logits have a gradient"))
    })
}

/// Times `f` on the CPU and, when there is one, the GPU, prints the row and keeps it.
fn bench_row(
    rows: &mut Vec<Row>,
    name: String,
    work: Work,
    gpu: Option<&Device>,
    mut f: impl FnMut(&Device) -> Result<Timing>,
) -> Result<()> {
    let cpu = f(&Device::Cpu)?;
    let gpu = gpu.map(&mut f).transpose()?;
    rows.push(Row {
        name,
        work,
        gpu,
        cpu,
    });
    Ok(())
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
    if args.iter().any(|a| a == "--check") {
        let gpu = Device::gpu()?;
        println!("{}\n", gpu.describe());
        std::process::exit(if check::run(&gpu, &filter) { 0 } else { 1 });
    }
    let wanted = |name: &str| name.contains(filter.as_str());
    let budget = if quick {
        Budget {
            total: Duration::from_millis(250),
            samples: 3,
            slow_samples: 1,
        }
    } else {
        Budget {
            total: Duration::from_millis(1500),
            samples: 5,
            slow_samples: 5,
        }
    };

    if args.iter().any(|a| a == "--tune") {
        return tune::run(quick, &filter, budget);
    }
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
    println!("{}", cpu.describe());
    println!(
        "each figure: median of {} samples ±half their range{}\n",
        budget.samples,
        if quick {
            " (quick mode: short samples; one sample of a call longer than 250 ms)"
        } else {
            ""
        }
    );

    let mut rows = Vec::new();
    let mut copy_rate: (Option<f64>, f64) = (None, 0.0);
    if wanted("copy") || memory_rows().iter().any(|r| wanted(r.0)) {
        let bytes = (2 * BIG * 4) as f64;
        bench_row(
            &mut rows,
            "copy 64 MiB (read + write)".into(),
            Work::Bytes(bytes),
            gpu.as_ref(),
            |d| time_copy(d, budget),
        )?;
        let r = rows.last().expect("just pushed");
        copy_rate = (r.gpu.map(|g| bytes / g.median), bytes / r.cpu.median);
        print_row(r, copy_rate);
    }
    for (name, bytes, op) in memory_rows() {
        if !wanted(name) {
            continue;
        }
        bench_row(
            &mut rows,
            name.into(),
            Work::Bytes(bytes),
            gpu.as_ref(),
            |d| {
                let x = Tensor::uniform(&[BIG], -1.0, 1.0, 9, d)?;
                time(d, budget, || op(&x))
            },
        )?;
        print_row(rows.last().expect("just pushed"), copy_rate);
    }
    for (name, m, k, n, ta, tb) in shapes(quick) {
        if !wanted(&name) {
            continue;
        }
        let flops = 2.0 * (m * k * n) as f64;
        let (a, b) = operands(m, k, n, ta, tb, &cpu)?;
        bench_row(&mut rows, name, Work::Flops(flops), gpu.as_ref(), |d| {
            let (a, b) = (a.to_device(d)?, b.to_device(d)?);
            time(d, budget, || a.matmul_t(&b, ta, tb))
        })?;
        print_row(rows.last().expect("just pushed"), copy_rate);
    }
    let entropy_dims = [8192, 1000];
    let entropy_name = "softmax cross-entropy fwd+bwd 8192x1000";
    if wanted(entropy_name) {
        // Reads the logits twice (max, sum) and writes the gradient: about 3 passes.
        let bytes = 3.0 * (entropy_dims[0] * entropy_dims[1] * 4) as f64;
        bench_row(
            &mut rows,
            entropy_name.into(),
            Work::Bytes(bytes),
            gpu.as_ref(),
            |d| time_cross_entropy(d, budget, entropy_dims),
        )?;
        print_row(rows.last().expect("just pushed"), copy_rate);
    }
    for (name, x, w, backward) in conv_shapes() {
        if !wanted(name) {
            continue;
        }
        let out_positions = (x[2] - w[2] + 1) * (x[3] - w[3] + 1);
        let forward_flops = 2.0 * (x[0] * w[0] * w[1] * w[2] * w[3] * out_positions) as f64;
        let flops = forward_flops * if backward { 3.0 } else { 1.0 };
        bench_row(
            &mut rows,
            name.into(),
            Work::Flops(flops),
            gpu.as_ref(),
            |d| time_conv(d, budget, x, w, backward),
        )?;
        print_row(rows.last().expect("just pushed"), copy_rate);
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
        let (cpu_t, _) = epoch(model, &cpu, &split, cpu_steps, false)?;
        let gpu_steps = if quick { Some(gpu_quick_steps) } else { None };
        // Counting takes 24 more steps: in quick mode, too long for the CNN on a software
        // adapter (tests/step_costs.rs counts its dispatches at a small batch).
        let count = !quick || model == Model::Mlp;
        let gpu_run = gpu
            .as_ref()
            .map(|g| epoch(model, g, &split, gpu_steps, count))
            .transpose()?;
        let (gpu_t, costs) = match gpu_run {
            Some((t, costs)) => (Some(t), costs),
            None => (None, None),
        };
        let scaled = |steps: Option<usize>| {
            steps.map_or("full epoch".to_string(), |s| {
                format!("{s} steps scaled to 469")
            })
        };
        println!(
            "\n{name} (batch 128, {source}; 3 epochs; CPU: {}, GPU: {}):",
            scaled(cpu_steps),
            scaled(gpu_steps)
        );
        let step = |t: &Timing| format!("{:.2} ms per step", t.median * 1e3 / 469.0);
        match gpu_t {
            Some(g) => println!(
                "  GPU {:.3} s ±{:.0}% ({}) | CPU {:.3} s ±{:.0}% ({}) | speedup {:.2}x",
                g.median,
                50.0 * (g.max - g.min) / g.median,
                step(&g),
                cpu_t.median,
                50.0 * (cpu_t.max - cpu_t.min) / cpu_t.median,
                step(&cpu_t),
                cpu_t.median / g.median
            ),
            None => println!(
                "  CPU {:.3} s ±{:.0}% ({})",
                cpu_t.median,
                50.0 * (cpu_t.max - cpu_t.min) / cpu_t.median,
                step(&cpu_t)
            ),
        }
        if let Some(c) = costs {
            println!(
                "  GPU step costs: {} dispatches and {} submits per step; per epoch of {} steps: {} \
                 submits, {} host waits; recording thread's CPU time per step: {:.0} µs (range {:.0}-{:.0} over {RECORDING_PAIRS} \
                 pairs of epochs)",
                c.dispatches_per_step,
                c.submits_per_step,
                c.epoch_steps,
                c.submits_per_epoch,
                c.host_waits_per_epoch,
                c.host_us_per_step.median,
                c.host_us_per_step.min,
                c.host_us_per_step.max
            );
        }
        epochs.push((name, gpu_t, cpu_t, costs));
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

/// "GFLOP/s" or "GB/s (share of the copy)" of `work` done in `t`.
fn rate(work: Work, t: Timing, copy: Option<f64>) -> String {
    match work {
        Work::Flops(f) => format!("{:>9.1} GFLOP/s", f / t.median / 1e9),
        Work::Bytes(b) => {
            let r = b / t.median;
            let share = copy.map_or(String::new(), |c| {
                format!(" {:>3.0}% of copy", 100.0 * r / c)
            });
            format!("{:>9.1} GB/s{share}", r / 1e9)
        }
    }
}

fn print_row(r: &Row, (gpu_copy, cpu_copy): (Option<f64>, f64)) {
    let cpu = format!(
        "CPU {} {}",
        r.cpu.show(),
        rate(r.work, r.cpu, Some(cpu_copy))
    );
    match r.gpu {
        Some(g) => println!(
            "{:<40} GPU {} {} | {cpu} | speedup {:>7.2}x",
            r.name,
            g.show(),
            rate(r.work, g, gpu_copy),
            r.cpu.median / g.median
        ),
        None => println!("{:<40} {cpu}", r.name),
    }
}

fn write_json(
    path: &str,
    rows: &[Row],
    record_us: Option<f64>,
    epochs: &[(&str, Option<Timing>, Timing, Option<StepCosts>)],
    gpu: Option<&Device>,
) -> Result<()> {
    let num = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:e}"));
    let timing = |t: Option<Timing>| {
        t.map_or("null".to_string(), |t| {
            format!(
                "{{\"median\": {:e}, \"min\": {:e}, \"max\": {:e}}}",
                t.median, t.min, t.max
            )
        })
    };
    let entries: Vec<String> = rows
        .iter()
        .map(|r| {
            let (unit, amount) = match r.work {
                Work::Flops(f) => ("flops", f),
                Work::Bytes(b) => ("bytes", b),
            };
            format!(
                "    {{\"name\": {:?}, \"{unit}\": {amount}, \"gpu_seconds\": {}, \"cpu_seconds\": {}}}",
                r.name,
                timing(r.gpu),
                timing(Some(r.cpu))
            )
        })
        .collect();
    let epoch_entries: Vec<String> = epochs
        .iter()
        .map(|(name, g, c, costs)| {
            let costs = costs.map_or("null".to_string(), |k| {
                format!(
                    "{{\"dispatches_per_step\": {}, \"submits_per_step\": {}, \"epoch_steps\": {}, \
                     \"submits_per_epoch\": {}, \"host_waits_per_epoch\": {}, \"host_us_per_step\": {:e}, \
                     \"host_us_per_step_range\": [{:e}, {:e}]}}",
                    k.dispatches_per_step,
                    k.submits_per_step,
                    k.epoch_steps,
                    k.submits_per_epoch,
                    k.host_waits_per_epoch,
                    k.host_us_per_step.median,
                    k.host_us_per_step.min,
                    k.host_us_per_step.max
                )
            });
            format!(
                "    {name:?}: {{\"gpu\": {}, \"cpu\": {}, \"gpu_step_costs\": {costs}}}",
                timing(*g),
                timing(Some(*c))
            )
        })
        .collect();
    let gpu_name = gpu.map_or("none".to_string(), |g| g.describe());
    let text = format!(
        "{{\n  \"gpu\": {gpu_name:?},\n  \"cpu\": {:?},\n  \"record_us_per_op\": {},\n  \"epoch_seconds\": {{\n{}\n  }},\n  \"kernels\": [\n{}\n  ]\n}}\n",
        Device::Cpu.describe(),
        num(record_us),
        epoch_entries.join(",\n"),
        entries.join(",\n")
    );
    std::fs::write(path, text)
        .map_err(|e| wgnn::Error::invalid("gpu_vs_cpu", format!("writing {path}: {e}")))
}
