//! `--check`: every op of the tests' case table (tests/common/cases.rs) run on this GPU
//! and on the CPU path, forward and backward, before any timing, as
//! `tests/gpu_vs_cpu.rs` does on CI's software adapter. One line per case with its worst
//! error as a share of what its tolerance allows, then a summary; the run fails when any
//! case does. Users run it on a GPU wgnn has not met before.

use super::common::{cases, compare};
use std::time::Instant;
use wgnn::Device;

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
    let seconds = start.elapsed().as_secs_f64();
    if failed.is_empty() {
        println!("check: all {checked} ops match the CPU path ({seconds:.1} s)");
    } else {
        println!(
            "check: {} of {checked} ops differ from the CPU path ({seconds:.1} s): {}",
            failed.len(),
            failed.join(", ")
        );
    }
    failed.is_empty()
}
