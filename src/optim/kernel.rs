//! The GPU step of every rule: one dispatch updates up to [`MAX_TENSORS`] parameter
//! tensors with their state (shaders/optim.wgsl). WGSL cannot index a list of buffers, so
//! each (tensor count, state count) pair is its own shader family whose bindings and
//! `update_slot` branches are generated here; the rule's arithmetic stays in the WGSL
//! file. Clipping by global norm uses the `_norm` families, which add a `partials` buffer
//! and a first pass summing the gradients' squares (shaders/optim_norm.wgsl).

use std::fmt::Write as _;

/// Most parameter tensors one dispatch updates (the `lens` words of the kernel's Params).
pub(crate) const MAX_TENSORS: usize = 8;
/// Most state buffers a rule keeps per parameter.
const MAX_STATES: usize = 2;
/// Most storage buffers a step binds: eight tensors with a gradient, a parameter and two
/// state buffers each, and the partial sums of clipping by norm.
pub(crate) const MAX_STEP_BINDINGS: usize = MAX_TENSORS * (2 + MAX_STATES) + 1;
/// Most workgroups (so partial sums) one norm first pass launches.
pub(crate) const NORM_WORKGROUPS: usize = 256;

/// The family names of `k` tensors: `[plain, with the norm pass]`, by state count.
macro_rules! families_of {
    ($k:literal) => {
        [
            [
                concat!("optim_step_", $k, "_0"),
                concat!("optim_step_", $k, "_1"),
                concat!("optim_step_", $k, "_2"),
            ],
            [
                concat!("optim_step_", $k, "_0_norm"),
                concat!("optim_step_", $k, "_1_norm"),
                concat!("optim_step_", $k, "_2_norm"),
            ],
        ]
    };
}

/// The family names, by tensor count (from 1), norm pass or not, and state count.
const FAMILIES: [[[&str; MAX_STATES + 1]; 2]; MAX_TENSORS] = [
    families_of!(1),
    families_of!(2),
    families_of!(3),
    families_of!(4),
    families_of!(5),
    families_of!(6),
    families_of!(7),
    families_of!(8),
];

/// The marker optim.wgsl puts where the generated bindings and `update_slot` go.
const SLOTS_MARKER: &str = "//@tensor_slots";

/// The shader family updating `tensors` tensors (1 to [`MAX_TENSORS`]) with `states`
/// state buffers each (0 to 2); `norm` adds the clipping-by-norm pass and buffer.
pub(crate) fn family(tensors: usize, states: usize, norm: bool) -> &'static str {
    FAMILIES[tensors - 1][usize::from(norm)][states]
}

/// The WGSL of an `optim_step_*` family, or None for another name. Bindings: the
/// gradients (read-only) first, then each tensor's parameter and state buffers in turn,
/// then (`_norm` families) the partial sums of squares.
pub(crate) fn source(family: &str) -> Option<String> {
    let (tensors, norm, states) = FAMILIES.iter().enumerate().find_map(|(k, kinds)| {
        kinds.iter().enumerate().find_map(|(norm, row)| {
            let s = row.iter().position(|name| *name == family)?;
            Some((k + 1, norm == 1, s))
        })
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
    slots.push_str(&update_slot(tensors, states));
    if norm {
        slots.push_str(&norm_pass(tensors, binding(tensors, 0)));
    } else {
        slots.push_str("\nfn norm_clip_scale(lid: u32) -> f32 {\n    return 1.0;\n}\n");
    }
    Some(include_str!("../../shaders/optim.wgsl").replace(SLOTS_MARKER, &slots))
}

/// `update_slot(t, j, len, scale)`: element j of tensor t through the rule, its gradient
/// clipped first.
fn update_slot(tensors: usize, states: usize) -> String {
    // One branch per tensor on `t`, which is uniform across the workgroup: a GPU runs
    // only the branch taken. (Lavapipe runs every branch, masked, whether written as
    // branches or as a switch: docs/performance.md, session 10.)
    let mut code = String::from(
        "\nfn update_slot(t: u32, j: u32, len: u32, scale: f32) {\n    if (j >= len) {\n        return;\n    }\n",
    );
    for t in 0..tensors {
        let state = |s: usize| {
            if s <= states {
                format!("state{s}_{t}[j]")
            } else {
                "0.0".to_string()
            }
        };
        let _ = writeln!(
            code,
            "    if (t == {t}u) {{\n        let u = update(param_{t}[j], clipped(grad_{t}[j], scale), {}, {});\n        param_{t}[j] = u.p;",
            state(1),
            state(2)
        );
        for s in 1..=states {
            let _ = writeln!(code, "        state{s}_{t}[j] = u.s{s};");
        }
        code.push_str("    }\n");
    }
    code.push_str("}\n");
    code
}

/// The `partials` binding, `sum_of_squares(start, stride)` over every gradient, and
/// shaders/optim_norm.wgsl's clipping factor and first pass.
fn norm_pass(tensors: usize, partials_binding: usize) -> String {
    let mut code = format!(
        "\n@group(0) @binding({partials_binding}) var<storage, read_write> partials: array<f32>;\n\
         \nfn sum_of_squares(start: u32, stride: u32) -> f32 {{\n    var s = 0.0;\n"
    );
    for t in 0..tensors {
        let _ = writeln!(
            code,
            "    for (var j = start; j < length_of({t}u); j = j + stride) {{\n        let g = grad_{t}[j];\n        s = s + g * g;\n    }}"
        );
    }
    code.push_str("    return s;\n}\n");
    code.push_str(include_str!("../../shaders/optim_norm.wgsl"));
    code
}
