//! The variants of the kernels that reduce within a workgroup (sums over rows, softmax,
//! cross-entropy, batch-norm statistics): 64, 128 or 256 threads per workgroup, combining
//! by a tree in workgroup memory (shaders/workgroup_tree.wgsl) or, where the adapter has
//! the SUBGROUP feature, through subgroup operations (shaders/workgroup_subgroups.wgsl).
//! The autotuner picks one per kernel and shape; with tuning off, a rule does.

use crate::device::{
    Autotune, GpuBuffer, GpuContext, Kernel, Params, ShapeKey, SUBGROUPS, SUBGROUP_TWINS,
};

/// The workgroup sizes a reducing kernel comes in.
const THREADS: [u32; 3] = [64, 128, 256];

/// The kernels that take a [`Reducer`], by their index in the tuner's keys.
const ENTRIES: [&str; 7] = [
    "reduce_rows",
    "reduce_plus",
    "softmax",
    "softmax_backward",
    "cross_entropy",
    "cross_entropy_tracked",
    "channel_reduce",
];

/// How a reducing kernel's workgroup combines its threads' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reducer {
    /// Threads per workgroup (the shaders' `WG`).
    pub(crate) threads: u32,
    /// Through subgroup operations rather than a tree in workgroup memory.
    pub(crate) subgroups: bool,
}

impl Reducer {
    /// The variant's name, as tests force it and the tuning records list it:
    /// `tree256`, `subgroups64`, ...
    pub(crate) fn name(&self) -> String {
        let how = if self.subgroups { "subgroups" } else { "tree" };
        format!("{how}{}", self.threads)
    }

    /// Reducing kernel `base` (of family `reduce`, `softmax`, `loss` or `batch_norm`) in
    /// this variant.
    pub(crate) fn apply(&self, base: &Kernel) -> Kernel {
        let family = base.shader;
        let shader = if self.subgroups {
            SUBGROUP_TWINS
                .iter()
                .find(|(name, _)| *name == family)
                .map(|(_, twin)| *twin)
                .unwrap_or_else(|| panic!("wgnn bug: {family} has no{SUBGROUPS} twin"))
        } else {
            family
        };
        Kernel {
            shader,
            ..base.clone()
        }
        .with("WG", self.threads)
    }
}

/// Every variant `ctx`'s adapter runs.
pub(crate) fn candidates(ctx: &GpuContext) -> Vec<Reducer> {
    let subgroups = ctx.features().contains(crate::wgpu::Features::SUBGROUP);
    let ways = if subgroups {
        &[false, true][..]
    } else {
        &[false][..]
    };
    ways.iter()
        .flat_map(|&subgroups| THREADS.map(|threads| Reducer { threads, subgroups }))
        .collect()
}

/// The fixed rule's variant for workgroups that each combine `len` values: the fewest
/// threads that leave each thread at most 16 values (a 10-class softmax row needs 64,
/// not 256), through subgroups where the adapter has them. On lavapipe, softmax over
/// 128x10 takes 0.19 ms so and 1.15 ms with the former fixed 256-thread tree, and over
/// 1024x1000 4.8 ms against 12.4 ms (`gpu_vs_cpu --tune`).
pub(crate) fn rule(ctx: &GpuContext, len: usize) -> Reducer {
    let threads = THREADS
        .into_iter()
        .find(|&t| t as usize * 16 >= len)
        .unwrap_or(THREADS[THREADS.len() - 1]);
    let subgroups = ctx.features().contains(crate::wgpu::Features::SUBGROUP);
    Reducer { threads, subgroups }
}

/// Records reducing kernel `base` (entry point one of [`ENTRIES`]) over
/// `groups` workgroups that each combine about `len` values, `rows` of them, in the
/// variant chosen for that shape: a forced one, a tuned one (timed on these very
/// buffers: every reducing kernel writes its outputs from its inputs alone, so a timing
/// run leaves nothing the real dispatch does not overwrite), else the rule's.
pub(crate) fn dispatch_reducing(
    ctx: &GpuContext,
    [rows, len]: [usize; 2],
    base: &Kernel,
    reads: &[&GpuBuffer],
    writes: &[&GpuBuffer],
    params: Params,
    groups: [u32; 3],
) {
    let chosen = choose(ctx, rows, len, base.entry, |variant, dispatches| {
        ctx.time_alone(
            &variant.apply(base),
            reads,
            writes,
            params,
            groups,
            dispatches,
        )
    });
    ctx.dispatch(&chosen.apply(base), reads, writes, params, groups);
}

/// The variant for reducing entry point `entry` at this shape ([`dispatch_reducing`]), timing candidates with
/// `run(variant, dispatches)` where tuning may.
fn choose(
    ctx: &GpuContext,
    rows: usize,
    len: usize,
    entry: &str,
    mut run: impl FnMut(Reducer, u32) -> Option<std::time::Duration>,
) -> Reducer {
    let rule = rule(ctx, len);
    if ctx.autotune() == Autotune::Off && !ctx.is_forced("reduction") {
        return rule;
    }
    let entry_index = ENTRIES
        .iter()
        .position(|&e| e == entry)
        .unwrap_or_else(|| panic!("wgnn bug: {entry} is not a reducing kernel"));
    let candidates = candidates(ctx);
    let names: Vec<String> = candidates.iter().map(Reducer::name).collect();
    let fallback = candidates.iter().position(|&c| c == rule).unwrap_or(0);
    let key = ShapeKey {
        op: "reduction",
        numbers: [entry_index, rows, len, 0, 0, 0, 0, 0],
    };
    let index = ctx.choose_variant(key, &names, fallback, |i, dispatches| {
        run(candidates[i], dispatches)
    });
    candidates[index]
}
