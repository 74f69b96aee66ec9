//! The GPU step of every rule: one dispatch updates up to [`MAX_TENSORS`] parameter
//! tensors with their state (shaders/optim.wgsl). WGSL cannot index a list of buffers, so
//! each (tensor count, state count) pair is its own shader family whose bindings and
//! `update_slot` branches are generated here; the rule's arithmetic stays in the WGSL
//! file.

use std::fmt::Write as _;

/// Most parameter tensors one dispatch updates (the `lens` words of the kernel's Params).
pub(crate) const MAX_TENSORS: usize = 8;
/// Most state buffers a rule keeps per parameter.
const MAX_STATES: usize = 2;

/// The family names, by tensor count (from 1) and state count.
const FAMILIES: [[&str; MAX_STATES + 1]; MAX_TENSORS] = [
    ["optim_step_1_0", "optim_step_1_1", "optim_step_1_2"],
    ["optim_step_2_0", "optim_step_2_1", "optim_step_2_2"],
    ["optim_step_3_0", "optim_step_3_1", "optim_step_3_2"],
    ["optim_step_4_0", "optim_step_4_1", "optim_step_4_2"],
    ["optim_step_5_0", "optim_step_5_1", "optim_step_5_2"],
    ["optim_step_6_0", "optim_step_6_1", "optim_step_6_2"],
    ["optim_step_7_0", "optim_step_7_1", "optim_step_7_2"],
    ["optim_step_8_0", "optim_step_8_1", "optim_step_8_2"],
];

/// The marker optim.wgsl puts where the generated bindings and `update_slot` go.
const SLOTS_MARKER: &str = "//@tensor_slots";

/// The shader family updating `tensors` tensors (1 to [`MAX_TENSORS`]) with `states`
/// state buffers each (0 to 2).
pub(crate) fn family(tensors: usize, states: usize) -> &'static str {
    FAMILIES[tensors - 1][states]
}

/// The WGSL of an `optim_step_*` family, or None for another name. Bindings: the
/// gradients (read-only) first, then each tensor's parameter and state buffers in turn.
pub(crate) fn source(family: &str) -> Option<String> {
    let (tensors, states) = FAMILIES.iter().enumerate().find_map(|(k, row)| {
        let s = row.iter().position(|name| *name == family)?;
        Some((k + 1, s))
    })?;
    let mut slots = format!("const TENSORS: u32 = {tensors}u;\n");
    let per_tensor = 1 + states;
    let binding = |t: usize, i: usize| tensors + t * per_tensor + i;
    for t in 0..tensors {
        let _ = writeln!(
            slots,
            "@group(0) @binding({t}) var<storage, read> grad_{t}: array<f32>;"
        );
    }
    for t in 0..tensors {
        let _ = writeln!(
            slots,
            "@group(0) @binding({}) var<storage, read_write> param_{t}: array<f32>;",
            binding(t, 0)
        );
        for s in 1..=states {
            let _ = writeln!(
                slots,
                "@group(0) @binding({}) var<storage, read_write> state{s}_{t}: array<f32>;",
                binding(t, s)
            );
        }
    }
    // One branch per tensor on `t`, which is uniform across the workgroup: a GPU runs
    // only the branch taken. (Lavapipe runs every branch, masked, whether written as
    // branches or as a switch: docs/performance.md, session 10.)
    slots.push_str("\nfn update_slot(t: u32, j: u32, len: u32) {\n    if (j >= len) {\n        return;\n    }\n");
    for t in 0..tensors {
        let state = |s: usize| {
            if s <= states {
                format!("state{s}_{t}[j]")
            } else {
                "0.0".to_string()
            }
        };
        let _ = writeln!(
            slots,
            "    if (t == {t}u) {{\n        let u = update(param_{t}[j], grad_{t}[j], {}, {});\n        param_{t}[j] = u.p;",
            state(1),
            state(2)
        );
        for s in 1..=states {
            let _ = writeln!(slots, "        state{s}_{t}[j] = u.s{s};");
        }
        slots.push_str("    }\n");
    }
    slots.push_str("}\n");
    Some(include_str!("../../shaders/optim.wgsl").replace(SLOTS_MARKER, &slots))
}
