//! Ops, one module per family. Each op checks shapes, runs a GPU kernel or its CPU twin,
//! and records its backward rule on the tape. No op knows about layers or optimizers.

mod augment;
mod binary;
mod conv;
mod conv_cpu;
pub(crate) mod cpu;
mod dense;
pub(crate) mod gather;
mod layout;
mod loss;
mod matmul;
mod matmul_gpu;
mod norm;
mod penalty;
mod pool;
mod random;
mod reduce;
pub(crate) mod reducing;
mod softmax;
mod unary;
mod winograd_cpu;

pub use conv::Conv2dOptions;
pub(crate) use loss::advance_sums;
pub(crate) use penalty::penalty_gradient;
pub use pool::Pool2dOptions;
pub use unary::{Epilogue, UnaryOp};

use crate::device::{GpuBuffer, GpuContext, Kernel, Params};

/// Threads per workgroup of the 1-D kernels (`WG` in shaders/common.wgsl).
pub(crate) const WORKGROUP: usize = 256;

/// Work (flops) above which a product is laid out to launch at least the device's
/// occupancy in workgroups (`GpuContext::occupancy`: 256 on hardware, about two per
/// multiprocessor of a large GPU), splitting its tiles smaller or its k over workgroups:
/// on a handful of workgroups it would leave a large GPU idle for the whole kernel
/// (tests/step_costs.rs asserts it for the course models' steps).
pub(crate) const OCCUPANCY_FLOPS: usize = 10_000_000;

/// Most k one workgroup of a GEMM-like kernel sums over; a longer product splits its k
/// over workgroups and adds the partial sums in a second pass. lavapipe stops every loop
/// of an invocation after 65,535 iterations in all (gallivm's loop limiter): a 64x64-tile
/// product then silently summed only its first ~53,000 k (measured); 16,384 k is 1,024
/// steps of 16, far inside that. A hardware GPU's watchdog also favours bounded work.
pub(crate) const MAX_K_PER_WORKGROUP: usize = 16_384;

/// Depth of one step of the tiled GEMM kernels (BK in shaders/gemm_tiles.wgsl): a split
/// of k is a whole number of steps.
const GEMM_STEP: usize = 16;

/// (k per split, splits) of a sum over `depth` terms that at least `wanted` workgroup
/// layers should share, none summing more than `MAX_K_PER_WORKGROUP`: one split when
/// one is enough, else splits of whole steps, at least as many as asked.
pub(crate) fn split_k(depth: usize, wanted: usize) -> (usize, usize) {
    let wanted = wanted.max(depth.div_ceil(MAX_K_PER_WORKGROUP));
    if wanted <= 1 {
        return (depth, 1);
    }
    let per_split = (depth / wanted / GEMM_STEP * GEMM_STEP).max(GEMM_STEP);
    (per_split, depth.div_ceil(per_split))
}

/// An op's outputs: its result and, for some kernels, a second one.
pub(crate) type Outputs = (GpuBuffer, Option<GpuBuffer>);

/// The autotuner's timing of one candidate of an op: `dispatches` of the dispatch that
/// `pass` gives for these outputs (kernel, parameters, workgroups), on the op's own
/// `inputs` but into `scratch`, which `alloc` makes at the first timing, so the op's
/// real outputs are not touched. None where scratch cannot be had or the device failed.
pub(crate) fn time_into_scratch(
    ctx: &GpuContext,
    scratch: &mut Option<Outputs>,
    alloc: impl FnOnce() -> crate::error::Result<Outputs>,
    inputs: &[&GpuBuffer],
    pass: impl FnOnce(&[&GpuBuffer]) -> (Kernel, Params, [u32; 3]),
    dispatches: u32,
) -> Option<std::time::Duration> {
    if scratch.is_none() {
        *scratch = Some(alloc().ok()?);
    }
    let (out, second) = scratch.as_ref()?;
    let mut outputs = vec![out];
    outputs.extend(second.as_ref());
    let (kernel, words, groups) = pass(&outputs);
    ctx.time_alone(&kernel, inputs, &outputs, words, groups, dispatches)
}

/// Workgroups for one workgroup per row, folded under the per-dimension limit.
pub(crate) fn groups_per_row(ctx: &GpuContext, rows: usize) -> [u32; 3] {
    ctx.groups_1d(rows, 1)
}

/// Dims and strides front-padded to rank 4, as the strided shaders read them.
pub(crate) fn pad4(values: &[usize], fill: usize) -> [usize; 4] {
    let mut out = [fill; 4];
    out[4 - values.len()..].copy_from_slice(values);
    out
}

/// Offset of element `i` of a tensor of (padded) dims `d` read through strides `s`; the
/// CPU twin of `strided_offset` in shaders/common.wgsl.
pub(crate) fn strided_offset(i: usize, d: &[usize; 4], s: &[usize; 4]) -> usize {
    let mut rem = i;
    let mut offset = 0;
    for axis in (0..4).rev() {
        offset += (rem % d[axis]) * s[axis];
        rem /= d[axis];
    }
    offset
}
