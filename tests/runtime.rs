//! The GPU runtime and the user-facing errors: buffer reuse in a steady loop, the
//! uniform-arena path for adapters without immediates, and errors instead of panics.

mod common;

use common::{check_close, gpu, report};
use wgnn::device::{Autotune, DeviceLimits, GpuOptions};
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::Optimizer;
use wgnn::train::{fit, FitOptions, Loss};
use wgnn::wgpu;
use wgnn::{Device, Error, Tensor};

/// One step of a tiny training loop: forward, loss, backward, an SGD update computed
/// into new tensors (the optimizer issue adds in-place updates).
fn train_step(x: &Tensor, labels: &Tensor, w: &Tensor) -> Tensor {
    let loss = x
        .matmul(w)
        .unwrap()
        .tanh()
        .unwrap()
        .cross_entropy(labels)
        .unwrap();
    loss.backward().unwrap();
    let grad = w.grad().unwrap();
    w.zero_grad();
    let stepped = wgnn::no_grad(|| w.sub(&grad.mul_scalar(0.1).unwrap()).unwrap());
    let _ = loss.item().unwrap();
    stepped.requires_grad_()
}

#[test]
fn a_second_identical_step_creates_no_gpu_buffer() {
    let Some(device) = gpu() else { return };
    // A private context, so that tests running in parallel do not touch its pool.
    let device = Device::gpu_with(&GpuOptions::default()).unwrap_or(device);
    let ctx = device.gpu_context().unwrap().clone();
    let x = Tensor::uniform(&[9, 5], -1.0, 1.0, 1, &device).unwrap();
    let labels = Tensor::from_vec(
        vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
        &[9],
        &device,
    )
    .unwrap();
    let mut w = Tensor::uniform(&[5, 3], -1.0, 1.0, 2, &device)
        .unwrap()
        .requires_grad_();
    w = train_step(&x, &labels, &w);
    let after_first = ctx.stats();
    for _ in 0..3 {
        w = train_step(&x, &labels, &w);
    }
    let after = ctx.stats();
    assert_eq!(
        after.buffers_created, after_first.buffers_created,
        "steady steps allocated: {after_first:?} -> {after:?}"
    );
    assert!(after.buffers_reused > after_first.buffers_reused);
    assert_eq!(
        after.pipelines, after_first.pipelines,
        "steady steps compiled new pipelines"
    );
}

#[test]
fn recording_never_waits_for_the_gpu_and_each_read_waits_once() {
    let Some(_) = gpu() else { return };
    // A private context, so that tests running in parallel do not add to its counters;
    // untuned, since tuning a shape's first meeting waits once for the recorded work (the
    // autotuning tests count that wait).
    let options = GpuOptions {
        autotune: Some(Autotune::Off),
        ..GpuOptions::default()
    };
    let device = Device::gpu_with(&options).unwrap();
    let ctx = device.gpu_context().unwrap().clone();
    let x = Tensor::uniform(&[33, 17], -1.0, 1.0, 1, &device)
        .unwrap()
        .requires_grad_();
    let before = ctx.stats();
    let loss = x
        .matmul_t(&x, false, true)
        .unwrap()
        .relu()
        .unwrap()
        .sum()
        .unwrap();
    loss.backward().unwrap();
    ctx.flush().unwrap();
    let recorded = ctx.stats();
    assert_eq!(recorded.host_waits, before.host_waits, "{recorded:?}");
    assert!(recorded.dispatches > before.dispatches && recorded.submits > before.submits);
    loss.item().unwrap();
    x.grad().unwrap().to_vec().unwrap();
    device.synchronize().unwrap();
    let after = ctx.stats();
    assert_eq!(after.host_waits, before.host_waits + 3, "{after:?}");
    assert!(after.host_wait_nanos > before.host_wait_nanos);
    // The waiting thread's CPU time inside the waits is part of their wall time (plus a
    // clock tick of slack).
    let cpu = after.host_wait_cpu_nanos - before.host_wait_cpu_nanos;
    let wall = after.host_wait_nanos - before.host_wait_nanos;
    assert!(
        cpu <= wall + 1_000_000,
        "{cpu} ns of CPU in {wall} ns of waits"
    );
}

#[test]
fn a_read_later_arrives_without_a_wait_and_agrees_with_a_plain_read() {
    let Some(_) = gpu() else { return };
    let device = Device::gpu_with(&GpuOptions::default()).unwrap();
    let ctx = device.gpu_context().unwrap().clone();
    for d in [Device::Cpu, device.clone()] {
        let a = Tensor::uniform(&[7, 3], -1.0, 1.0, 4, &d).unwrap();
        let b = a.relu().unwrap().sum().unwrap();
        let mut read = Tensor::read_later(&[&a, &b]).unwrap();
        let before = ctx.stats().host_waits;
        // Poll (never blocking) until the values arrive; a software GPU finishes quickly.
        let mut values = None;
        for _ in 0..100_000 {
            values = read.try_take().unwrap();
            if values.is_some() {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(ctx.stats().host_waits, before, "try_take waited on {d}");
        let values = values.expect("the read arrived");
        assert_eq!(
            values,
            vec![a.to_vec().unwrap(), b.to_vec().unwrap()],
            "on {d}"
        );
        assert!(read.try_take().unwrap().is_none(), "taken twice on {d}");
        // wait() on a fresh read blocks at most once.
        let expected = vec![b.to_vec().unwrap()];
        let before = ctx.stats().host_waits;
        let waited = Tensor::read_later(&[&b]).unwrap().wait().unwrap();
        assert!(ctx.stats().host_waits <= before + 1, "on {d}");
        assert_eq!(waited, expected, "on {d}");
    }
    let cpu = Tensor::zeros(&[1], &Device::Cpu).unwrap();
    let gpu_tensor = Tensor::zeros(&[1], &device).unwrap();
    assert!(Tensor::read_later(&[&cpu, &gpu_tensor]).is_err());
}

#[test]
fn later_epochs_find_every_bind_group_cached() {
    let Some(device) = gpu() else { return };
    // The first epochs meet every combination of buffers a step binds (the short last
    // batch included); from then on every bind group is found in the cache. The
    // optimizer's one dispatch binds all four gradients, whose pooled buffers come back in
    // a few different orders before the pool settles into a cycle: 5 epochs here.
    // A private context, so that tests running in parallel do not touch its caches.
    let device = Device::gpu_with(&GpuOptions::default()).unwrap_or(device);
    let ctx = device.gpu_context().unwrap().clone();
    let data = wgnn::data::synthetic::moons(200, 0.1, 3, &device).unwrap();
    wgnn::nn::manual_seed(5);
    let model = Sequential::new()
        .add(Linear::new(2, 16, &device).unwrap())
        .add(Activation::relu())
        .add(Linear::new(16, 1, &device).unwrap());
    let mut adam = Optimizer::adam(model.parameters(), 0.01).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = FitOptions {
        epochs: 9,
        batch_size: 32, // 6 full batches and a short one
        verbose: false,
        on_epoch_end: Some(std::sync::Arc::new(move |_| {
            let stats = ctx.stats();
            sink.lock()
                .unwrap()
                .push((stats.bind_groups, stats.buffers_created));
            true
        })),
        ..FitOptions::default()
    };
    fit(&model, &mut adam, Loss::BinaryCrossEntropy, &data, &options).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[5..].iter().all(|s| *s == seen[5]),
        "(bind groups, buffers) after each epoch: {seen:?}"
    );
}

#[test]
fn the_uniform_arena_path_gives_the_same_results_as_immediates() {
    let Some(device) = gpu() else { return };
    let arena = Device::gpu_with(&GpuOptions {
        without_features: Some(wgpu::Features::IMMEDIATES),
        max_pending: 7,
        ..GpuOptions::default()
    })
    .unwrap();
    assert!(!arena.gpu_context().unwrap().uses_immediates());
    let compute = |d: &Device| {
        let a = Tensor::uniform(&[17, 65], -1.0, 1.0, 3, d)
            .unwrap()
            .requires_grad_();
        let b = Tensor::uniform(&[65, 3], -1.0, 1.0, 4, d).unwrap();
        let mut y = a.matmul(&b).unwrap();
        for _ in 0..20 {
            // More dispatches than max_pending: exercises submits mid-stream.
            y = y.sigmoid().unwrap().mul_scalar(1.5).unwrap();
        }
        let l = y
            .softmax()
            .unwrap()
            .sum_axis(0, false)
            .unwrap()
            .sum()
            .unwrap();
        l.backward().unwrap();
        let mut out = y.to_vec().unwrap();
        out.extend(a.grad().unwrap().to_vec().unwrap());
        out
    };
    report(
        check_close(
            "arena vs immediates",
            &compute(&arena),
            &compute(&device),
            1e-5,
            1e-5,
        )
        .err()
        .into_iter()
        .collect(),
    );
    report(
        check_close(
            "arena vs cpu",
            &compute(&arena),
            &compute(&Device::Cpu),
            1e-4,
            1e-4,
        )
        .err()
        .into_iter()
        .collect(),
    );
}

#[test]
fn a_device_under_webgpu_default_limits_asks_for_no_more_and_computes_the_same() {
    let Some(_) = gpu() else { return };
    let leg = GpuOptions {
        limits: Some(DeviceLimits::WebGpuDefault),
        without_features: Some(wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16),
        ..GpuOptions::default()
    };
    let device = Device::gpu_with(&leg).unwrap();
    let ctx = device.gpu_context().unwrap();
    let (got, defaults) = (ctx.limits(), wgpu::Limits::default());
    assert!(got.max_storage_buffer_binding_size <= defaults.max_storage_buffer_binding_size);
    assert!(got.max_compute_workgroup_storage_size <= defaults.max_compute_workgroup_storage_size);
    assert!(
        got.max_storage_buffers_per_shader_stage <= defaults.max_storage_buffers_per_shader_stage
    );
    assert_eq!(got.max_immediate_size, 0);
    assert!(
        !ctx.uses_immediates(),
        "WebGPU's defaults have no immediates"
    );
    assert!(!ctx
        .features()
        .intersects(wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16));
    assert!(
        ctx.describe().contains("limits: WebGPU's defaults"),
        "{}",
        ctx.describe()
    );
    // A product, a convolution and their gradients run within those limits.
    let compute = |d: &Device| {
        let x = Tensor::uniform(&[3, 2, 9, 7], -1.0, 1.0, 5, d).unwrap();
        let w = Tensor::uniform(&[4, 2, 3, 3], -1.0, 1.0, 6, d)
            .unwrap()
            .requires_grad_();
        let m = Tensor::uniform(&[140, 33], -1.0, 1.0, 7, d).unwrap();
        let options = wgnn::ops::Conv2dOptions::default();
        let y = x
            .conv2d(&w, None, options)
            .unwrap()
            .reshape(&[3, 140])
            .unwrap();
        let loss = y.matmul(&m).unwrap().relu().unwrap().sum().unwrap();
        loss.backward().unwrap();
        let mut out = y.to_vec().unwrap();
        out.extend(w.grad().unwrap().to_vec().unwrap());
        out
    };
    report(
        check_close(
            "default limits vs cpu",
            &compute(&device),
            &compute(&Device::Cpu),
            1e-4,
            1e-4,
        )
        .err()
        .into_iter()
        .collect(),
    );
}

#[test]
fn a_shape_is_tuned_once_per_adapter_and_its_choice_read_back_by_the_next_process() {
    if gpu().is_none() {
        return;
    }
    let folder = std::env::temp_dir().join(format!("wgnn-autotune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    let file = folder.join("choices.json");
    let open = |autotune| {
        let options = GpuOptions {
            autotune: Some(autotune),
            tune_file: Some(file.clone()),
            ..GpuOptions::default()
        };
        Device::gpu_with(&options).unwrap()
    };
    // A product whose operands admit the scalar, vec4 and large kernels.
    let product = |d: &Device| {
        let a = Tensor::uniform(&[40, 24], -1.0, 1.0, 1, d).unwrap();
        let b = Tensor::uniform(&[24, 36], -1.0, 1.0, 2, d).unwrap();
        a.matmul(&b).unwrap().to_vec().unwrap()
    };
    let want = product(&Device::Cpu);
    let first = open(Autotune::Fast);
    let ctx = first.gpu_context().unwrap();
    // Paused, the tuner times nothing and remembers nothing (a model summary's batch of
    // one); the same shape is tuned at its next call.
    let paused = first.without_tuning(|| product(&first));
    assert!(ctx.tuning_records().0.is_empty());
    let got = product(&first);
    let (records, spent, write_error) = ctx.tuning_records();
    assert_eq!(write_error, None);
    assert_eq!(records.len(), 1, "{records:?}");
    let names: Vec<&str> = records[0].timings.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["matmul", "matmul_vec4", "matmul_large"]);
    assert!(spent > std::time::Duration::ZERO);
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(kept.contains(&records[0].winner), "{kept}");
    // Tuning left no trace in the runtime's counts of a step: a second identical
    // product records one dispatch and waits once.
    let before = ctx.stats();
    product(&first);
    let after = ctx.stats();
    assert_eq!(
        (
            after.dispatches - before.dispatches,
            after.host_waits - before.host_waits
        ),
        (1, 1)
    );
    // The next process's device reads the choice and times nothing.
    let second = open(Autotune::Fast);
    report(
        check_close("tuned product", &product(&second), &want, 1e-4, 1e-4)
            .err()
            .into_iter()
            .collect(),
    );
    assert!(second.gpu_context().unwrap().tuning_records().0.is_empty());
    report(
        check_close("paused product", &paused, &want, 1e-4, 1e-4)
            .err()
            .into_iter()
            .collect(),
    );
    report(
        check_close("tuned product", &got, &want, 1e-4, 1e-4)
            .err()
            .into_iter()
            .collect(),
    );
    // Off neither times nor reads.
    let off = open(Autotune::Off);
    product(&off);
    let ctx = off.gpu_context().unwrap();
    assert!(ctx.tuning_records().0.is_empty() && ctx.tune_file().is_none());
    let _ = std::fs::remove_dir_all(&folder);
}

/// The tuner times by GPU timestamps where the adapter has TIMESTAMP_QUERY (lavapipe
/// does) and by the host's clock without it; both give every variant a time and the same
/// product.
#[test]
fn tuning_times_by_gpu_timestamps_where_the_adapter_has_them_else_by_the_host_clock() {
    let Some(shared) = gpu() else { return };
    let has_timestamps = shared
        .gpu_context()
        .unwrap()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    let want = {
        let a = Tensor::uniform(&[40, 24], -1.0, 1.0, 1, &Device::Cpu).unwrap();
        let b = Tensor::uniform(&[24, 36], -1.0, 1.0, 2, &Device::Cpu).unwrap();
        a.matmul(&b).unwrap().to_vec().unwrap()
    };
    for without in [wgpu::Features::empty(), wgpu::Features::TIMESTAMP_QUERY] {
        let options = GpuOptions {
            autotune: Some(Autotune::Full),
            tune_file: Some(std::env::temp_dir().join(format!(
                "wgnn-clock-{}-{}.json",
                std::process::id(),
                without.is_empty()
            ))),
            without_features: Some(without),
            ..GpuOptions::default()
        };
        let device = Device::gpu_with(&options).unwrap();
        let ctx = device.gpu_context().unwrap();
        let by_timestamps = has_timestamps && without.is_empty();
        assert_eq!(ctx.tunes_by_timestamps(), by_timestamps);
        let clock = if by_timestamps {
            "GPU timestamps"
        } else {
            "the host's clock"
        };
        assert!(ctx.describe().contains(clock), "{}", ctx.describe());
        let a = Tensor::uniform(&[40, 24], -1.0, 1.0, 1, &device).unwrap();
        let b = Tensor::uniform(&[24, 36], -1.0, 1.0, 2, &device).unwrap();
        let got = a.matmul(&b).unwrap().to_vec().unwrap();
        report(
            check_close("tuned product", &got, &want, 1e-4, 1e-4)
                .err()
                .into_iter()
                .collect(),
        );
        let (records, _, _) = ctx.tuning_records();
        assert_eq!(records.len(), 1, "{records:?}");
        let timings = &records[0].timings;
        assert!(timings.len() >= 3, "{records:?}");
        // The GPU's clock sees every dispatch's own time; the host's, less the least
        // empty submit, may round a tiny product to nothing on a busy machine.
        let timed = timings.iter().filter(|(_, t)| !t.is_zero()).count();
        let least = if by_timestamps { timings.len() } else { 1 };
        assert!(timed >= least, "{clock}: {records:?}");
        if let Some(file) = &options.tune_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

#[test]
fn a_recycled_buffer_is_not_overwritten_before_earlier_work_reads_it() {
    let Some(device) = gpu() else { return };
    // x's buffer returns to the pool when x drops; the upload of z may get it. The
    // dispatch that reads x was recorded first and must still see x's values.
    let x = Tensor::full(&[1000], 2.0, &device).unwrap();
    let y = x.mul_scalar(3.0).unwrap();
    drop(x);
    let z = Tensor::from_vec(vec![-1.0; 1000], &[1000], &device).unwrap();
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 6.0));
    assert!(z.to_vec().unwrap().iter().all(|&v| v == -1.0));
}

#[test]
fn shape_mistakes_are_errors_naming_both_shapes() {
    let devices = common::devices();
    for d in devices {
        let a = Tensor::zeros(&[2, 3], &d).unwrap();
        let b = Tensor::zeros(&[4, 5], &d).unwrap();
        let msg = a.add(&b).unwrap_err().to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4, 5]"), "{msg}");
        let msg = a.matmul(&b).unwrap_err().to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4, 5]"), "{msg}");
        assert!(a.reshape(&[7]).is_err());
        assert!(a.sum_axis(2, false).is_err());
        assert!(a.sum_axis(-3, false).is_err());
        assert!(a.transpose().unwrap().transpose().is_ok());
        assert!(Tensor::zeros(&[3], &d).unwrap().transpose().is_err());
        assert!(a.cross_entropy(&Tensor::zeros(&[3], &d).unwrap()).is_err());
        assert!(a.mse_loss(&Tensor::zeros(&[3, 2], &d).unwrap()).is_err());
        assert!(a.item().is_err());
        assert!(Tensor::from_vec(vec![1.0; 5], &[2, 3], &d).is_err());
        assert!(matches!(
            Tensor::zeros(&[1, 1, 1, 1, 1], &d),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(a.clamp(1.0, 0.0).is_err());
        assert!(Tensor::arange(0.0, 1.0, 0.0, &d).is_err());
        assert!(Tensor::uniform(&[2], 1.0, 1.0, 0, &d).is_err());
        assert!(a.powf(f32::NAN).is_err());
    }
}

#[test]
fn mixing_devices_is_an_error() {
    let Some(g) = gpu() else { return };
    let a = Tensor::zeros(&[2], &Device::Cpu).unwrap();
    let b = Tensor::zeros(&[2], &g).unwrap();
    assert!(matches!(a.add(&b), Err(Error::DeviceMismatch { .. })));
    assert_eq!(
        b.to_device(&Device::Cpu).unwrap().to_vec().unwrap(),
        vec![0.0, 0.0]
    );
}

#[test]
fn a_tensor_over_the_binding_limit_is_an_error_naming_the_limit() {
    let Some(g) = gpu() else { return };
    let limit = g.gpu_context().unwrap().max_binding_bytes();
    let floats = (limit / 4 + 1) as usize;
    match Tensor::zeros(&[floats], &g) {
        Err(Error::TooLarge { limit: l, .. }) => assert_eq!(l, limit),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn a_bad_label_is_an_error_on_the_cpu_and_nan_on_the_gpu() {
    let logits = Tensor::zeros(&[2, 3], &Device::Cpu).unwrap();
    let labels = Tensor::from_vec(vec![0.0, 3.0], &[2], &Device::Cpu).unwrap();
    assert!(logits
        .cross_entropy(&labels)
        .unwrap_err()
        .to_string()
        .contains("[0, 3)"));
    if let Some(g) = gpu() {
        let loss = logits
            .to_device(&g)
            .unwrap()
            .cross_entropy(&labels.to_device(&g).unwrap())
            .unwrap();
        assert!(loss.item().unwrap().is_nan());
    }
}

#[test]
fn constructors_agree_across_devices() {
    let Some(g) = gpu() else { return };
    for (cpu, gpu) in [
        (
            Tensor::arange(-1.0, 2.0, 0.25, &Device::Cpu),
            Tensor::arange(-1.0, 2.0, 0.25, &g),
        ),
        (
            Tensor::full(&[3, 17], 2.5, &Device::Cpu),
            Tensor::full(&[3, 17], 2.5, &g),
        ),
        (Tensor::zeros(&[65], &Device::Cpu), Tensor::zeros(&[65], &g)),
        (
            Tensor::normal(&[127], 1.0, 2.0, 5, &Device::Cpu),
            Tensor::normal(&[127], 1.0, 2.0, 5, &g),
        ),
        (
            Tensor::uniform(&[1], -3.0, 3.0, 6, &Device::Cpu),
            Tensor::uniform(&[1], -3.0, 3.0, 6, &g),
        ),
    ] {
        let (c, gv) = (cpu.unwrap(), gpu.unwrap());
        assert_eq!(c.dims(), gv.dims());
        assert_eq!(c.to_vec().unwrap(), gv.to_vec().unwrap());
    }
    assert_eq!(
        Tensor::arange(0.0, 1.0, 0.25, &g)
            .unwrap()
            .to_vec()
            .unwrap(),
        vec![0.0, 0.25, 0.5, 0.75]
    );
    assert_eq!(Tensor::scalar(4.0, &g).unwrap().item().unwrap(), 4.0);
}

#[test]
fn empty_tensors_work_on_every_op_that_allows_them() {
    let devices = common::devices();
    for d in devices {
        let empty = Tensor::zeros(&[0, 3], &d).unwrap();
        assert_eq!(empty.relu().unwrap().dims(), &[0, 3]);
        assert_eq!(
            empty.add(&Tensor::ones(&[3], &d).unwrap()).unwrap().dims(),
            &[0, 3]
        );
        assert_eq!(empty.sum().unwrap().item().unwrap(), 0.0, "{d}");
        assert_eq!(
            empty.sum_axis(0, false).unwrap().to_vec().unwrap(),
            vec![0.0; 3],
            "{d}"
        );
        assert!(empty.mean().is_err());
        assert!(empty.max_axis(0, false).is_err());
        assert_eq!(empty.softmax().unwrap().dims(), &[0, 3]);
        let b = Tensor::ones(&[3, 2], &d).unwrap();
        assert_eq!(empty.matmul(&b).unwrap().dims(), &[0, 2]);
        // An empty inner dimension gives zeros.
        let a = Tensor::ones(&[2, 0], &d).unwrap();
        let c = Tensor::ones(&[0, 3], &d).unwrap();
        assert_eq!(a.matmul(&c).unwrap().to_vec().unwrap(), vec![0.0; 6], "{d}");
        assert_eq!(empty.to_vec().unwrap(), Vec::<f32>::new());
    }
}
