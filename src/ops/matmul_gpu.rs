//! Products on the GPU (shaders/matmul.wgsl, matmul_large.wgsl): which kernel and tile a
//! product takes, and how a long k is split over workgroups. One dispatch computes a
//! product and finishes it as [`Finish`] says; a product whose k is longer than
//! `MAX_K_PER_WORKGROUP` runs in two: the first writes one slab of partial sums per
//! split of k (raw, gated as A is read), the second (`sum_splits`) adds the slabs and
//! finishes them through the same output stage.

use super::matmul::{Finish, Gate};
use super::unary::Epilogue;
use crate::device::{Autotune, Device, GpuBuffer, GpuContext, Kernel, Params, ShapeKey};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Tile of C one workgroup of the general kernels computes (BM = BN in matmul.wgsl).
const TILE: usize = 64;
/// Tile of C one workgroup of the large kernel computes (matmul_large.wgsl).
const LARGE_TILE: usize = 128;
/// Smallest M and N given to the large kernel: below this its 128x128 tiles leave too
/// few workgroups to fill a GPU. A first guess, to be tuned on hardware.
const LARGE_MIN_SIDE: usize = 512;

/// One product (or a batch of `count`): op(A) is m x k, op(B) k x n, each operand read
/// transposed where `transposed` says, `strides` elements between the batches of A and
/// B (0: shared).
pub(super) struct Product {
    pub(super) dims: [usize; 3],
    pub(super) count: usize,
    pub(super) transposed: (bool, bool),
    pub(super) strides: [usize; 2],
}

/// How a product runs on the GPU: the shader, its entry point and the tile of C
/// (rows, columns) one workgroup computes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GemmLayout {
    shader: &'static str,
    entry: &'static str,
    tile: [usize; 2],
}

impl GemmLayout {
    /// Workgroups covering an m x n output, `layers` times (products times splits).
    fn workgroups(&self, m: usize, n: usize, layers: usize) -> [u32; 3] {
        [
            n.div_ceil(self.tile[1]) as u32,
            m.div_ceil(self.tile[0]) as u32,
            layers as u32,
        ]
    }

    /// Whether this is the small-tile kernel, which takes its tile as constants.
    fn is_small_tile(&self) -> bool {
        self.entry == "matmul_split"
    }

    /// The variant's name, as the tuner records it: the entry point, and the tile of the
    /// small-tile kernel.
    fn name(&self) -> String {
        if self.is_small_tile() {
            format!("{} {}x{}", self.entry, self.tile[0], self.tile[1])
        } else {
            self.entry.to_string()
        }
    }

    /// `kernel` with the constants this layout and `transposed` need.
    fn specialize(&self, kernel: Kernel, transposed: (bool, bool)) -> Kernel {
        let kernel = kernel
            .with("TRANS_A", transposed.0 as u32)
            .with("TRANS_B", transposed.1 as u32);
        if self.is_small_tile() {
            kernel
                .with("TM", self.tile[0] as u32)
                .with("TN", self.tile[1] as u32)
        } else {
            kernel
        }
    }
}

/// Tiles (rows, columns) of the small-tile kernel (`matmul_split`), largest first: each
/// workgroup's 256 threads split k into 256 / (rows·columns) slices.
const SMALL_TILES: [[usize; 2]; 5] = [[16, 16], [8, 16], [8, 8], [4, 8], [4, 4]];

/// Whether each operand's contiguous axis is a multiple of 4 (the vec4 kernels need it),
/// and whether the large kernel may run (it also stores vec4s of C, and does not split k:
/// `whole_k`).
fn vec4_and_large([m, k, n]: [usize; 3], (ta, tb): (bool, bool), whole_k: bool) -> (bool, bool) {
    let contiguous_a = if ta { m } else { k };
    let contiguous_b = if tb { k } else { n };
    let vec4 = contiguous_a.is_multiple_of(4) && contiguous_b.is_multiple_of(4);
    (vec4, vec4 && n.is_multiple_of(4) && whole_k)
}

/// Whether `layout` launches at least `occupancy` workgroups for this product, or the
/// product is too light to need them (at most `OCCUPANCY_FLOPS`).
fn fills(layout: &GemmLayout, [m, k, n]: [usize; 3], count: usize, occupancy: usize) -> bool {
    let [x, y, z] = layout.workgroups(m, n, count);
    2 * count * m * n * k <= super::OCCUPANCY_FLOPS
        || x as usize * y as usize * z as usize >= occupancy
}

/// The layouts the tuner times for a product: the 64-tile scalar kernel, the vec4 one
/// and the large one where [`vec4_and_large`] admits them, and the small tiles when
/// `thorough` or when the 64-tile kernels leave the GPU short of `occupancy` workgroups
/// (elsewhere they lose: 2x slower on lavapipe); of those, the ones that fill
/// `occupancy` ([`fills`]), or the fixed rule's alone if none does.
fn candidate_layouts(
    dims: [usize; 3],
    count: usize,
    transposed: (bool, bool),
    whole_k: bool,
    occupancy: usize,
    thorough: bool,
) -> Vec<GemmLayout> {
    let (vec4, large) = vec4_and_large(dims, transposed, whole_k);
    let layout = |shader, entry, tile| GemmLayout {
        shader,
        entry,
        tile,
    };
    let mut all = vec![layout("matmul", "matmul", [TILE; 2])];
    if vec4 {
        all.push(layout("matmul", "matmul_vec4", [TILE; 2]));
    }
    if large {
        all.push(layout("matmul_large", "matmul_large", [LARGE_TILE; 2]));
    }
    if thorough || !fills(&all[0], dims, count, occupancy) {
        all.extend(SMALL_TILES.map(|tile| layout("matmul", "matmul_split", tile)));
    }
    all.retain(|l| fills(l, dims, count, occupancy));
    if all.is_empty() {
        all.push(gpu_layout(dims, count, transposed, whole_k, occupancy));
    }
    all
}

/// The fixed rule's layout of an m x k · k x n product (`count` of them) with these
/// transposes, where tuning is off: the large kernel where admitted
/// ([`vec4_and_large`]) and M and N are at least `LARGE_MIN_SIDE`, else the 64-tile vec4
/// or scalar kernel. A product above `OCCUPANCY_FLOPS` whose 64x64 tiles launch fewer
/// than `occupancy` workgroups takes the small-tile kernel, with the largest tile that
/// launches enough (the smallest if none does).
fn gpu_layout(
    [m, k, n]: [usize; 3],
    count: usize,
    (ta, tb): (bool, bool),
    whole_k: bool,
    occupancy: usize,
) -> GemmLayout {
    let (vec4, large) = vec4_and_large([m, k, n], (ta, tb), whole_k);
    let large = large && m >= LARGE_MIN_SIDE && n >= LARGE_MIN_SIDE;
    let layout = |shader, entry, tile| GemmLayout {
        shader,
        entry,
        tile,
    };
    if large {
        return layout("matmul_large", "matmul_large", [LARGE_TILE; 2]);
    }
    let tiled = if vec4 {
        layout("matmul", "matmul_vec4", [TILE; 2])
    } else {
        layout("matmul", "matmul", [TILE; 2])
    };
    if fills(&tiled, [m, k, n], count, occupancy) {
        return tiled;
    }
    let small = SMALL_TILES.map(|tile| layout("matmul", "matmul_split", tile));
    small
        .into_iter()
        .find(|l| fills(l, [m, k, n], count, occupancy))
        .unwrap_or(small[small.len() - 1])
}

/// The layout a product takes on `ctx`: the tuner's choice among [`candidate_layouts`]
/// for its shape and `finish` (`family` numbers the finish: see [`product`]), timed the
/// first time the shape is met by `run(layout, dispatches)`, else the fixed rule's.
fn choose_layout(
    ctx: &GpuContext,
    p: &Product,
    whole_k: bool,
    family: usize,
    mut run: impl FnMut(&GemmLayout, u32) -> Option<std::time::Duration>,
) -> GemmLayout {
    let ([m, k, n], count) = (p.dims, p.count);
    let occupancy = ctx.occupancy();
    let rule = gpu_layout(p.dims, count, p.transposed, whole_k, occupancy);
    let mode = ctx.autotune();
    let forced = ctx.is_forced("matmul");
    if mode == Autotune::Off && !forced {
        return rule;
    }
    // A forced variant may be any the shape admits.
    let thorough = mode == Autotune::Full || forced;
    let candidates = candidate_layouts(p.dims, count, p.transposed, whole_k, occupancy, thorough);
    let names: Vec<String> = candidates.iter().map(GemmLayout::name).collect();
    let fallback = candidates.iter().position(|l| *l == rule).unwrap_or(0);
    let (ta, tb) = (p.transposed.0 as usize, p.transposed.1 as usize);
    let key = ShapeKey {
        op: "matmul",
        numbers: [m, k, n, count, ta, tb, family, occupancy],
    };
    let index = ctx.choose_variant(key, &names, fallback, |i, dispatches| {
        run(&candidates[i], dispatches)
    });
    candidates[index]
}

/// A kernel of the output stage `finish` asks for, around entry point `entry` of
/// `shader`, with its A gated by `gate` (the `_gated` families) and the activation's
/// parameter it reads.
fn stage_kernel(
    shader: &'static str,
    entry: &'static str,
    finish: &Finish,
    gate: Option<Gate>,
) -> (Kernel, f32) {
    let gate_code = Epilogue::code(gate.and_then(|g| g.epilogue));
    let gate_alpha = gate.and_then(|g| g.epilogue).map_or(0.0, |e| e.alpha());
    let large = shader == "matmul_large";
    match *finish {
        Finish::Plain { .. } if gate.is_none() => (Kernel::new(shader, entry, 2, 1), 0.0),
        Finish::Plain { .. } => {
            let family = if large {
                "matmul_large_gated"
            } else {
                "matmul_gated"
            };
            (
                Kernel::new(family, entry, 3, 1).with("ACT_A", gate_code),
                gate_alpha,
            )
        }
        Finish::Dense {
            bias,
            epilogue,
            keep_input,
            ..
        } => {
            let family = match (shader == "matmul_large", keep_input) {
                (true, false) => "dense_large",
                (true, true) => "dense_large_pre",
                (false, false) => "dense",
                (false, true) => "dense_pre",
            };
            let kernel = Kernel::new(family, entry, 3, 1 + keep_input as u8)
                .with("ACT", Epilogue::code(epilogue))
                .with("HAS_BIAS", bias.is_some() as u32);
            (kernel, epilogue.map_or(0.0, |e| e.alpha()))
        }
        Finish::RowSums { .. } if gate.is_none() => {
            let family = if large {
                "matmul_large_row_sums"
            } else {
                "matmul_row_sums"
            };
            (Kernel::new(family, entry, 2, 2).with("ROW_SUMS", 1), 0.0)
        }
        Finish::RowSums { .. } => {
            let family = if large {
                "matmul_large_row_sums_gated"
            } else {
                "matmul_row_sums_gated"
            };
            (
                Kernel::new(family, entry, 3, 2)
                    .with("ROW_SUMS", 1)
                    .with("ACT_A", gate_code),
                gate_alpha,
            )
        }
    }
}

/// op(a)·op(b) on the GPU, finished as `finish` says, giving C (`shape`) and the second
/// output the finish asks for (row sums of op(A), or the kept pre-activation).
pub(super) fn product(
    ctx: &GpuContext,
    device: &Device,
    [a, b]: [&Tensor; 2],
    p: &Product,
    finish: &Finish,
    shape: Shape,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = "matmul";
    let ([m, k, n], count) = (p.dims, p.count);
    let (k_split, splits) = super::split_k(k, 1);
    let layers = count * splits;
    let max_groups = ctx.limits().max_compute_workgroups_per_dimension as usize;
    if layers > max_groups || m.div_ceil(TILE) > max_groups || n.div_ceil(TILE) > max_groups {
        return Err(Error::invalid(
            OP,
            format!(
                "at most {max_groups} batches and {} rows or columns on this GPU, got batch {count}, {m}x{n}",
                max_groups * TILE
            ),
        ));
    }
    let gate = finish.gate();
    let row_sums = matches!(finish, Finish::RowSums { .. });
    let keep_input = matches!(
        finish,
        Finish::Dense {
            keep_input: true,
            ..
        }
    );
    let whole_k = splits == 1;
    let dropout = match *finish {
        Finish::Dense { dropout, .. } => dropout,
        _ => gate.and_then(|g| g.dropout),
    };
    let [pen_l1, pen_l2] = gate.map_or([0.0; 2], |g| g.penalty);
    let params = |alpha: f32| {
        let words = Params::new()
            .u(m)
            .u(n)
            .u(k)
            .u(p.strides[0])
            .u(p.strides[1])
            .u(m * n)
            .f(alpha)
            .f(pen_l1)
            .f(pen_l2);
        super::random::dropout_words(words, dropout)
            .u(k_split)
            .u(count)
            .u(splits)
    };
    let second_shape = if row_sums {
        Some(Shape::new(&[count * m])?)
    } else if keep_input {
        Some(shape.clone())
    } else {
        None
    };
    let bias = match *finish {
        // Without a bias the dense kernel's bias binding reads b (never used).
        Finish::Dense { bias, .. } => Some(bias.unwrap_or(b).gpu_buffer()),
        _ => None,
    };
    // The first (or only) pass: with k split, raw partial sums (and partial row sums), A
    // gated as it is read; else the whole finish.
    let first_finish = match (splits, finish) {
        (1, _) => *finish,
        (_, Finish::Dense { .. }) => Finish::Plain { gate: None },
        (_, Finish::Plain { .. }) => Finish::Plain { gate },
        (_, Finish::RowSums { .. }) => Finish::RowSums { gate },
    };
    let mut inputs = vec![a.gpu_buffer(), b.gpu_buffer()];
    if splits == 1 {
        inputs.extend(bias);
    }
    inputs.extend(gate.map(|g| g.saved().gpu_buffer()));
    let second_floats = match (splits, &second_shape) {
        (1, Some(s)) => Some(s.numel()),
        (_, Some(s)) if row_sums => Some(s.numel() * splits),
        _ => None,
    };
    let flops = 2 * count * m * n * k;
    let first_pass = |layout: &GemmLayout| {
        let (kernel, alpha) = stage_kernel(layout.shader, layout.entry, &first_finish, gate);
        let kernel = layout.specialize(kernel, p.transposed);
        (
            kernel,
            params(alpha).flops(flops),
            layout.workgroups(m, n, layers),
        )
    };
    let alloc_outputs = |what: &str| -> Result<super::Outputs> {
        let out = ctx.alloc(splits * count * m * n, what)?;
        let second = second_floats
            .map(|floats| ctx.alloc(floats, "product's second output"))
            .transpose()?;
        Ok((out, second))
    };
    // The tuner times each candidate's first pass on these operands, into scratch.
    let family = usize::from(row_sums)
        | usize::from(gate.is_some()) << 1
        | usize::from(matches!(finish, Finish::Dense { .. })) << 2
        | usize::from(keep_input) << 3;
    let mut scratch = None;
    let layout = choose_layout(ctx, p, whole_k, family, |layout, dispatches| {
        let alloc = || alloc_outputs("autotuning scratch");
        let pass = |_: &[&GpuBuffer]| first_pass(layout);
        super::time_into_scratch(ctx, &mut scratch, alloc, &inputs, pass, dispatches)
    });
    drop(scratch);
    let (kernel, words, groups) = first_pass(&layout);
    let (first, first_second) = alloc_outputs(if splits == 1 {
        "matmul result"
    } else {
        "matmul partial sums"
    })?;
    let mut outputs = vec![&first];
    outputs.extend(first_second.as_ref());
    ctx.dispatch(&kernel, &inputs, &outputs, words, groups);
    let (out, second) = if splits == 1 {
        (first, first_second)
    } else {
        // Pass 2: the slabs added and finished by the asked-for output stage.
        let finished = match finish {
            Finish::Plain { .. } => Finish::Plain { gate: None },
            Finish::RowSums { .. } => Finish::RowSums { gate: None },
            dense => *dense,
        };
        let (kernel, alpha) = stage_kernel("matmul", "sum_splits", &finished, None);
        let mut inputs: Vec<&GpuBuffer> = vec![&first, first_second.as_ref().unwrap_or(&first)];
        inputs.extend(bias);
        let out = ctx.alloc(count * m * n, "matmul result")?;
        let second = second_shape
            .as_ref()
            .map(|s| ctx.alloc(s.numel(), "product's second output"))
            .transpose()?;
        let mut outputs = vec![&out];
        outputs.extend(second.as_ref());
        let values = count * m * n + if row_sums { count * m } else { 0 };
        let words = params(alpha).flops(splits * values);
        let sum_groups = ctx.groups_1d(count * m * n, super::WORKGROUP);
        ctx.dispatch(&kernel, &inputs, &outputs, words, sum_groups);
        (out, second)
    };
    let second = second_shape
        .zip(second)
        .map(|(s, buffer)| Tensor::from_gpu(s, buffer, device));
    Ok((Tensor::from_gpu(shape, out, device), second))
}
