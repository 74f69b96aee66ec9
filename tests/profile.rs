//! WGNN_PROFILE=1: the profiler's table names the ops and kernels that ran. One test in
//! its own binary, because the setting is read once per process.

mod common;

use wgnn::{Device, Result, Tensor};

/// A small training step's worth of ops: forward, backward, an optimizer update.
fn step(device: &Device) -> Result<()> {
    let x = Tensor::uniform(&[64, 32], -1.0, 1.0, 1, device)?;
    let w = Tensor::uniform(&[32, 10], -0.1, 0.1, 2, device)?.requires_grad_();
    let labels = Tensor::from_vec((0..64).map(|i| (i % 10) as f32).collect(), &[64], device)?;
    let loss = x.matmul(&w)?.relu()?.cross_entropy(&labels)?;
    loss.backward()?;
    let mut sgd = wgnn::optim::Optimizer::sgd(vec![w], 0.1)?;
    sgd.step()?;
    loss.item()?; // waits for the GPU, which collects the kernel times
    Ok(())
}

#[test]
fn the_profile_names_every_op_and_kernel() -> Result<()> {
    std::env::set_var("WGNN_PROFILE", "1");
    assert!(wgnn::profile::enabled());
    // The first op on a thread has no earlier op to time from: run the step twice.
    step(&Device::Cpu)?;
    step(&Device::Cpu)?;
    let report = wgnn::profile::report().expect("profiling is on");
    for row in [
        "matmul [cpu]",
        "matmul backward [cpu]",
        "optimizer step [cpu]",
    ] {
        assert!(report.contains(row), "no {row:?} row in:\n{report}");
    }
    assert!(
        !report.contains("[gpu]"),
        "GPU rows without GPU work:\n{report}"
    );
    if let Some(gpu) = common::gpu() {
        wgnn::profile::reset();
        step(&gpu)?;
        step(&gpu)?;
        let report = wgnn::profile::report().expect("profiling is on");
        assert!(report.contains("matmul [gpu]"), "{report}");
        assert!(report.contains("CPU time recording GPU work"), "{report}");
        let timed = gpu
            .gpu_context()
            .is_some_and(|c| c.features().contains(wgpu::Features::TIMESTAMP_QUERY));
        if timed {
            // loss.cross_entropy, or loss_subgroups.cross_entropy where subgroups reduce.
            assert!(report.contains(".cross_entropy WG="), "{report}");
        } else {
            assert!(report.contains("not measured"), "{report}");
        }
    }
    Ok(())
}
