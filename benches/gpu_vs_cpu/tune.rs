//! `--tune`: a full autotuning sweep over the bench's products (the matmul rows), the MNIST
//! CNN's convolutions and the reductions the course models meet (softmax, sums, the
//! tracked cross-entropy, batch-norm statistics), then each timed with every variant forced
//! in turn and with the tuner's choice, in the same minutes: the tuned choice should be no
//! slower than the best fixed variant. The choices are kept in the device's tuning file, so
//! later runs of any program start with them.

use super::{operands, shapes, time, Budget};
use wgnn::device::{Autotune, GpuOptions};
use wgnn::{Device, Result, Tensor};

/// One call the sweep tunes and times: its name, the op whose variants it forces
/// (`"matmul"`, `"conv2d"` or `"reduction"`), and the call.
struct Swept<'a> {
    name: String,
    op: &'static str,
    call: Box<dyn Fn() -> Result<Tensor> + 'a>,
}

/// The products of the bench's matmul rows whose name contains `filter`.
fn products(quick: bool, filter: &str, gpu: &Device) -> Result<Vec<Swept<'static>>> {
    let mut swept = Vec::new();
    for (name, m, k, n, ta, tb) in shapes(quick) {
        if name.contains(filter) {
            let (a, b) = operands(m, k, n, ta, tb, gpu)?;
            swept.push(Swept {
                name,
                op: "matmul",
                call: Box::new(move || a.matmul_t(&b, ta, tb)),
            });
        }
    }
    Ok(swept)
}

/// The MNIST CNN's convolutions at batch 128 (named by `filter`): each layer's forward,
/// and its forward with one gradient (the input's, or the weights'), so that each of the
/// three products is tuned and timed.
fn convolutions(filter: &str, gpu: &Device) -> Result<Vec<Swept<'static>>> {
    let layers = [
        ("conv1", [128, 1, 28, 28], [32, 1, 3, 3]),
        ("conv2", [128, 32, 26, 26], [64, 32, 3, 3]),
    ];
    let mut swept = Vec::new();
    for (layer, x, w) in layers {
        // (what, whether x and the weight need gradients); conv1's input is the images.
        let calls: &[(&str, bool, bool)] = if layer == "conv1" {
            &[
                ("forward", false, false),
                ("forward + weight gradient", false, true),
            ]
        } else {
            &[
                ("forward", false, false),
                ("forward + input gradient", true, false),
                ("forward + weight gradient", false, true),
            ]
        };
        for &(what, x_grad, w_grad) in calls {
            let mut input = Tensor::uniform(&x, -1.0, 1.0, 11, gpu)?;
            let mut weight = Tensor::uniform(&w, -0.1, 0.1, 12, gpu)?;
            if x_grad {
                input = input.requires_grad_();
            }
            if w_grad {
                weight = weight.requires_grad_();
            }
            swept.push(Swept {
                name: format!("{layer} {what} {x:?} * {w:?}"),
                op: "conv2d",
                call: Box::new(move || {
                    let y = input.conv2d(&weight, None, wgnn::ops::Conv2dOptions::default())?;
                    if !(x_grad || w_grad) {
                        return Ok(y);
                    }
                    y.sum()?.backward()?;
                    let grad = if x_grad { input.grad() } else { weight.grad() };
                    Ok(grad.expect("a gradient was asked for"))
                }),
            });
        }
    }
    swept.retain(|s| s.name.contains(filter));
    Ok(swept)
}

/// Reductions at the course models' shapes and a few larger ones, named by `filter`.
fn reductions(quick: bool, filter: &str, gpu: &Device) -> Result<Vec<Swept<'static>>> {
    let mut swept = Vec::new();
    let mut softmax_shapes = vec![[128, 10], [1024, 1000]];
    let mut sum_sizes = vec![16_384];
    if !quick {
        softmax_shapes.push([32, 16_384]);
        sum_sizes.push(1 << 22);
    }
    for [rows, cols] in softmax_shapes {
        let x = Tensor::uniform(&[rows, cols], -4.0, 4.0, 7, gpu)?;
        swept.push(Swept {
            name: format!("softmax {rows}x{cols}"),
            op: "reduction",
            call: Box::new(move || x.softmax()),
        });
    }
    for n in sum_sizes {
        let x = Tensor::uniform(&[n], -1.0, 1.0, 8, gpu)?;
        swept.push(Swept {
            name: format!("sum {n}"),
            op: "reduction",
            call: Box::new(move || x.sum()),
        });
    }
    let (rows, classes) = (128, 10);
    let logits = Tensor::uniform(&[rows, classes], -4.0, 4.0, 9, gpu)?;
    let labels: Vec<f32> = (0..rows).map(|i| (i * 7 % classes) as f32).collect();
    let labels = Tensor::from_vec(labels, &[rows], gpu)?;
    let sums = Tensor::zeros(&[2], gpu)?;
    swept.push(Swept {
        name: format!("cross_entropy_tracked {rows}x{classes}"),
        op: "reduction",
        call: Box::new(move || Ok(logits.cross_entropy_tracked(&labels, &sums)?.0)),
    });
    let (n, c, hw) = if quick { (32, 32, 26) } else { (128, 32, 26) };
    let x = Tensor::uniform(&[n, c, hw, hw], -1.0, 1.0, 10, gpu)?;
    let (gamma, beta) = (Tensor::ones(&[c], gpu)?, Tensor::zeros(&[c], gpu)?);
    swept.push(Swept {
        name: format!("batch_norm statistics {n}x{c}x{hw}x{hw}"),
        op: "reduction",
        call: Box::new(move || Ok(x.batch_norm(&gamma, &beta, 1e-5)?.0)),
    });
    swept.retain(|s| s.name.contains(filter));
    Ok(swept)
}

/// Runs the sweep on the GPU (calls whose name contains `filter`) and prints, per call,
/// each variant's time, the tuner's choice and its time against the best fixed
/// variant's. A call that meets several tuned kernels lists each choice and is timed
/// with the variants of its first new one for the swept op forced.
pub fn run(quick: bool, filter: &str, budget: Budget) -> Result<()> {
    let options = GpuOptions {
        autotune: Some(Autotune::Full),
        ..GpuOptions::default()
    };
    let gpu = Device::gpu_with(&options)?;
    let ctx = gpu.gpu_context().expect("a GPU device");
    println!("{}\n", gpu.describe());
    let kept = ctx
        .tune_file()
        .map_or("nowhere".into(), |f| f.display().to_string());
    println!("full tuning sweep; choices kept in {kept}\n");
    let mut worst_ratio: f64 = 0.0;
    let mut swept = products(quick, filter, &gpu)?;
    swept.extend(convolutions(filter, &gpu)?);
    swept.extend(reductions(quick, filter, &gpu)?);
    for Swept { name, op, call } in swept {
        let before = ctx.tuning_records().0.len();
        call()?.to_vec()?;
        let (records, _, _) = ctx.tuning_records();
        // The variants timed are those of the call's first new choice for `op`.
        let Some(record) = records[before..].iter().find(|r| r.key.starts_with(op)) else {
            println!("{name}: chosen earlier in this run or one variant only; not timed");
            continue;
        };
        println!("{name}:");
        for other in &records[before..] {
            println!("  ({}): tuner chose {}", other.key, other.winner);
        }
        let mut best_fixed = f64::INFINITY;
        for (variant, tuned_time) in &record.timings {
            ctx.force_variant(op, Some(variant));
            let t = time(&gpu, budget, &call)?;
            best_fixed = best_fixed.min(t.median);
            println!(
                "  fixed {variant:<20} {}   (tuning measured {:.3} ms)",
                t.show(),
                tuned_time.as_secs_f64() * 1e3
            );
        }
        ctx.force_variant(op, None);
        let tuned = time(&gpu, budget, &call)?;
        let ratio = tuned.median / best_fixed;
        worst_ratio = worst_ratio.max(ratio);
        println!(
            "  tuned {:<20} {}   tuned / best fixed: {ratio:.2}",
            record.winner,
            tuned.show()
        );
    }
    let (_, spent, write_error) = ctx.tuning_records();
    println!(
        "\ntuning took {:.2} s; worst tuned / best fixed: {worst_ratio:.2}",
        spent.as_secs_f64()
    );
    if let Some(e) = write_error {
        println!("{e}");
    }
    Ok(())
}
