//! `--tune`: a full autotuning sweep over the bench's products, then each product timed
//! with every variant forced in turn and with the tuner's choice, in the same minutes:
//! the tuned choice should be no slower than the best fixed variant. The choices are kept
//! in the device's tuning file, so later runs of any program start with them.

use super::{operands, shapes, time, Budget};
use wgnn::device::{Autotune, GpuOptions};
use wgnn::{Device, Result};

/// Runs the sweep on the GPU (products whose name contains `filter`) and prints, per
/// product, each variant's time, the tuner's choice and its time against the best
/// fixed variant's.
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
    for (name, m, k, n, ta, tb) in shapes(quick) {
        if !name.contains(filter) {
            continue;
        }
        let (a, b) = operands(m, k, n, ta, tb, &gpu)?;
        let before = ctx.tuning_records().0.len();
        a.matmul_t(&b, ta, tb)?.to_vec()?;
        let (records, _, _) = ctx.tuning_records();
        let Some(record) = records.get(before) else {
            println!("{name}: chosen earlier in this run or one variant only; not timed");
            continue;
        };
        println!("{name} ({}): tuner chose {}", record.key, record.winner);
        let mut best_fixed = f64::INFINITY;
        for (variant, tuned_time) in &record.timings {
            ctx.force_variant("matmul", Some(variant));
            let t = time(&gpu, budget, || a.matmul_t(&b, ta, tb))?;
            best_fixed = best_fixed.min(t.median);
            println!(
                "  fixed {variant:<20} {}   (tuning measured {:.3} ms)",
                t.show(),
                tuned_time.as_secs_f64() * 1e3
            );
        }
        ctx.force_variant("matmul", None);
        let tuned = time(&gpu, budget, || a.matmul_t(&b, ta, tb))?;
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
