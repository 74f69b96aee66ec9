//! `--check`: every op of the tests' case table (tests/common/cases.rs) run on this GPU
//! and on the CPU path, forward and backward, before any timing, as
//! `tests/gpu_vs_cpu.rs` does on CI's software adapter. One line per case with its worst
//! error as a share of what its tolerance allows, then a summary; the run fails when any
//! case does. Then each kernel variant the autotuner may choose (products, convolution
//! tiles, reductions: tree or subgroups at each workgroup size) is forced in turn over the
//! cases that use it, so a variant this GPU would only take after tuning is proved too
//! (the subgroup reductions' assumption that subgroups hold consecutive threads among
//! them). Users run it on a GPU wgnn has not met before.

use super::common::{cases, compare};
use std::time::Instant;
use wgnn::Device;

/// The ops whose variants can be forced, the cases (name prefixes) that use them, and
/// the variants (the subgroup reductions where the adapter has SUBGROUP).
fn variant_families(gpu: &Device) -> Vec<(&'static str, Vec<&'static str>, Vec<String>)> {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (
            "matmul",
            vec!["matmul", "linear"],
            names(&cases::PRODUCT_VARIANTS),
        ),
        ("conv2d", vec!["conv2d"], names(&cases::CONV_TILES)),
        (
            "reduction",
            cases::REDUCING_CASES.to_vec(),
            cases::reduction_variants(gpu),
        ),
    ]
}

/// Each forced variant over its cases (those whose name contains `filter`): one line
/// each; the names of those that failed.
fn check_variants(gpu: &Device, filter: &str) -> Vec<String> {
    let ctx = gpu.gpu_context().expect("a GPU device");
    let all = cases::all();
    let mut failed = Vec::new();
    for (op, prefixes, variants) in variant_families(gpu) {
        let used: Vec<(usize, &cases::Case)> = all
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name.contains(filter))
            .filter(|(_, c)| prefixes.iter().any(|p| c.name.starts_with(p)))
            .collect();
        if used.is_empty() {
            continue;
        }
        for variant in variants {
            ctx.force_variant(op, Some(&variant));
            let mut worst = 0.0f32;
            let mut first_failure = None;
            for &(index, case) in &used {
                let comparison = compare::compare(case, index, gpu);
                worst = worst.max(comparison.worst);
                first_failure = first_failure.or(comparison.failures.into_iter().next());
            }
            let label = format!("{op} = {variant} ({} cases)", used.len());
            let verdict = if first_failure.is_some() {
                "FAIL"
            } else {
                "pass"
            };
            println!("{verdict}  {label:<44} worst error {worst:.3} of its tolerance");
            if let Some(first) = first_failure {
                println!("      {first}");
                failed.push(label);
            }
        }
        ctx.force_variant(op, None);
    }
    failed
}

/// Runs every case whose name contains `filter` on `gpu`; true when all passed.
pub fn run(gpu: &Device, filter: &str) -> bool {
    let start = Instant::now();
    let all = cases::all();
    let mut failed = Vec::new();
    let mut checked = 0;
    for (index, case) in all.iter().enumerate() {
        if !case.name.contains(filter) {
            continue;
        }
        checked += 1;
        let comparison = compare::compare(case, index, gpu);
        let worst = comparison.worst;
        match comparison.failures.first() {
            None => println!(
                "pass  {:<44} worst error {worst:.3} of its tolerance",
                case.name
            ),
            Some(first) => {
                println!(
                    "FAIL  {:<44} worst error {worst:.3} of its tolerance",
                    case.name
                );
                println!("      {first}");
                failed.push(case.name);
            }
        }
    }
    let failed_variants = check_variants(gpu, filter);
    let seconds = start.elapsed().as_secs_f64();
    let passed = failed.is_empty() && failed_variants.is_empty();
    if passed {
        println!(
            "check: all {checked} ops and every forced variant match the CPU path ({seconds:.1} s)"
        );
    } else {
        println!(
            "check: {} of {checked} ops and {} forced variants differ from the CPU path ({seconds:.1} s): {}",
            failed.len(),
            failed_variants.len(),
            failed
                .iter()
                .map(|s| s.to_string())
                .chain(failed_variants)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    passed
}
