//! Matrix products, 2-D and batched, either operand read transposed without a copy
//! (shaders/matmul.wgsl; the gemm crate's SGEMM on the CPU), and the GEMM plumbing the
//! dense layer (src/ops/dense.rs) finishes or gates them with.

use super::unary::Epilogue;
use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};
use rayon::prelude::*;

/// Tile of C one workgroup of the general kernels computes (BM = BN in matmul.wgsl).
const TILE: usize = 64;
/// Tile of C one workgroup of the large kernel computes (matmul_large.wgsl).
const LARGE_TILE: usize = 128;
/// Smallest M and N given to the large kernel: below this its 128x128 tiles leave too
/// few workgroups to fill a GPU. A first guess, to be tuned on hardware.
const LARGE_MIN_SIDE: usize = 512;

/// How a product runs on the GPU: the shader, its entry point and the tile of C
/// (rows, columns) one workgroup computes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GemmLayout {
    shader: &'static str,
    entry: &'static str,
    tile: [usize; 2],
}

impl GemmLayout {
    /// Workgroups covering an m x n output, `count` times.
    fn workgroups(&self, m: usize, n: usize, count: usize) -> [usize; 3] {
        [n.div_ceil(self.tile[1]), m.div_ceil(self.tile[0]), count]
    }

    /// Whether this is the small-tile kernel, which takes its tile as constants.
    fn is_split(&self) -> bool {
        self.entry == "matmul_split"
    }
}

/// Tiles (rows, columns) of the small-tile kernel (`matmul_split`), largest first: each
/// workgroup's 256 threads split k into 256 / (rows·columns) slices.
const SPLIT_TILES: [[usize; 2]; 5] = [[16, 16], [8, 16], [8, 8], [4, 8], [4, 4]];

/// The layout of an m x k · k x n product (`count` of them) with these transposes. The
/// vec4 kernels need each operand's contiguous axis to be a multiple of 4, and the
/// large one also N (it stores vec4s); `extras` (row sums or a gated A) rule out the
/// large one. A product above `OCCUPANCY_FLOPS` whose 64x64 tiles launch fewer than
/// `occupancy` workgroups takes the small-tile kernel, with the largest tile that
/// launches enough (the smallest if none does).
fn gpu_layout(
    [m, k, n]: [usize; 3],
    count: usize,
    (ta, tb): (bool, bool),
    extras: bool,
    occupancy: usize,
) -> GemmLayout {
    let contiguous_a = if ta { m } else { k };
    let contiguous_b = if tb { k } else { n };
    let vec4 = contiguous_a.is_multiple_of(4) && contiguous_b.is_multiple_of(4);
    let large = vec4 && n.is_multiple_of(4) && m >= LARGE_MIN_SIDE && n >= LARGE_MIN_SIDE;
    let layout = |shader, entry, tile| GemmLayout {
        shader,
        entry,
        tile,
    };
    if large && !extras {
        return layout("matmul_large", "matmul_large", [LARGE_TILE; 2]);
    }
    let tiled = if vec4 {
        layout("matmul", "matmul_vec4", [TILE; 2])
    } else {
        layout("matmul", "matmul", [TILE; 2])
    };
    let enough = |l: &GemmLayout| l.workgroups(m, n, count).iter().product::<usize>() >= occupancy;
    if 2 * count * m * n * k <= super::OCCUPANCY_FLOPS || enough(&tiled) {
        return tiled;
    }
    let split = SPLIT_TILES.map(|tile| layout("matmul", "matmul_split", tile));
    split
        .into_iter()
        .find(enough)
        .unwrap_or(split[split.len() - 1])
}

/// (batch, rows, cols) of an operand of rank 2 or 3, before transposition.
fn matrix_dims(op: &'static str, t: &Tensor) -> Result<(Option<usize>, usize, usize)> {
    match *t.dims() {
        [r, c] => Ok((None, r, c)),
        [b, r, c] => Ok((Some(b), r, c)),
        _ => Err(Error::shape(
            op,
            "a 2-D or 3-D (batched) operand",
            format!("{}", t.shape()),
        )),
    }
}

/// An activation's derivative applied to A as it is read: the product uses
/// (a + penalty'(output)) ⊙ act'(z) (a layer's pre-activation gradient dz from its
/// output gradient dy), where `output` is the layer's output, shaped like A, and
/// penalty the L1/L2 penalty (`penalty` = [l1, l2], zeros for none) on it.
/// act' is taken from `input`, the pre-activation z, where the epilogue
/// [saves its input](Epilogue::saves_input), else from the output.
/// With `dropout` (drop probability, seed), `output` is the dropout's output: the mask
/// is made again, and act' is taken at output / keep-scale where the mask kept.
#[derive(Clone, Copy)]
pub(super) struct Gate<'a> {
    pub(super) output: &'a Tensor,
    pub(super) input: Option<&'a Tensor>,
    pub(super) epilogue: Option<Epilogue>,
    pub(super) penalty: [f32; 2],
    pub(super) dropout: Option<(f32, u64)>,
}

impl<'a> Gate<'a> {
    /// What act' is taken from: the pre-activation where it was kept, else the output.
    fn saved(&self) -> &'a Tensor {
        self.input.unwrap_or(self.output)
    }

    /// (a + penalty'(output)) ⊙ act'(output), computed in passes of its own (the CPU's
    /// way).
    pub(super) fn apply(&self, a: &Tensor) -> Result<Tensor> {
        let a = if self.penalty == [0.0, 0.0] {
            a.clone()
        } else {
            let unit = Tensor::ones(&[], a.device())?;
            super::penalty_gradient(self.output, &unit, self.penalty, Some(a))?
        };
        let (a, activated) = match self.dropout {
            Some((p, seed)) => (
                super::random::apply_dropout(&a, p, seed)?,
                match self.input {
                    Some(z) => z.clone(),
                    None => self.output.mul_scalar(1.0 - p)?,
                },
            ),
            None => (a, self.saved().clone()),
        };
        match self.epilogue {
            Some(e) => e.backward(&activated, &a),
            None => Ok(a),
        }
    }
}

/// What a product does besides computing C (the last two for 2-D products only).
pub(super) enum Finish<'a> {
    /// Nothing: C as computed from A, gated or not.
    Plain { gate: Option<Gate<'a>> },
    /// A dense layer's output: add a bias (one value per column), apply an activation and
    /// a dropout (drop probability, seed) before storing C; with `keep_input`, also the
    /// pre-activation (C before the activation), shaped like C.
    Dense {
        bias: Option<&'a Tensor>,
        epilogue: Option<Epilogue>,
        dropout: Option<(f32, u64)>,
        keep_input: bool,
    },
    /// Also the row sums of op(A) (gated or not): a dense layer's bias gradient Σ_N dz
    /// next to its weight gradient dzᵀ·x, from the same GPU dispatch.
    RowSums { gate: Option<Gate<'a>> },
}

impl Finish<'_> {
    fn gate(&self) -> Option<Gate<'_>> {
        match *self {
            Finish::Plain { gate } | Finish::RowSums { gate } => gate,
            Finish::Dense { .. } => None,
        }
    }
}

fn forward(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    Ok(forward_with(a, b, ta, tb, Finish::Plain { gate: None })?.0)
}

/// op(a)·op(b), finished as `finish` says, with the row sums of op(a) or the kept
/// pre-activation when it asks.
pub(super) fn forward_with(
    a: &Tensor,
    b: &Tensor,
    ta: bool,
    tb: bool,
    finish: Finish,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = "matmul";
    let device = Tensor::common_device(OP, &[a, b])?;
    let (ba, ar, ac) = matrix_dims(OP, a)?;
    let (bb, br, bc) = matrix_dims(OP, b)?;
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if tb { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(Error::shape(
            OP,
            format!("inner dimensions to agree: op(a) is {m}x{k}, so op(b) must have {k} rows"),
            format!(
                "op(b) of {kb}x{n} (a {}{}, b {}{})",
                a.shape(),
                if ta { "ᵀ" } else { "" },
                b.shape(),
                if tb { "ᵀ" } else { "" }
            ),
        ));
    }
    let batch = match (ba, bb) {
        (Some(x), Some(y)) if x != y => {
            return Err(Error::shape(
                OP,
                format!("equal batch sizes ({x} from a)"),
                format!("{y} from b"),
            ));
        }
        (Some(x), _) | (_, Some(x)) => Some(x),
        (None, None) => None,
    };
    let count = batch.unwrap_or(1);
    let shape = match batch {
        Some(bsz) => Shape::new(&[bsz, m, n])?,
        None => Shape::new(&[m, n])?,
    };
    let stride_a = if ba.is_some() { m * k } else { 0 };
    let stride_b = if bb.is_some() { k * n } else { 0 };
    let gate = finish.gate();
    if let Some(g) = gate.filter(|g| g.output.shape() != a.shape()) {
        return Err(Error::shape(
            OP,
            format!("a gate shaped like A, {}", a.shape()),
            format!("{}", g.output.shape()),
        ));
    }
    match &device {
        Device::Cpu => {
            // The CPU gates A in one pass before the product.
            let gated = gate.map(|g| g.apply(a)).transpose()?;
            let a = gated.as_ref().unwrap_or(a);
            let (av, bv) = (a.cpu_data(), b.cpu_data());
            let mut out = host_pool::uninit(count * m * n); // beta = 0 overwrites it
            for i in 0..count {
                let c = &mut out[i * m * n..(i + 1) * m * n];
                cpu_gemm(
                    m,
                    k,
                    n,
                    &av[i * stride_a..],
                    ta,
                    &bv[i * stride_b..],
                    tb,
                    0.0,
                    c,
                );
            }
            let mut second = None;
            match finish {
                Finish::Plain { .. } => {}
                Finish::Dense {
                    bias,
                    epilogue,
                    dropout,
                    keep_input,
                } => {
                    let bias = bias.map(|b| b.cpu_data());
                    let finish_rows = |out: &mut [f32], add_bias: bool, activate: bool| {
                        super::cpu::par_chunks(out, n, |r, row| {
                            if let Some(bias) = bias.as_ref().filter(|_| add_bias) {
                                row.iter_mut().zip(bias.iter()).for_each(|(v, b)| *v += b);
                            }
                            if !activate {
                                return;
                            }
                            if let Some(e) = epilogue {
                                e.apply_in_place(row);
                            }
                            if let Some((p, seed)) = dropout {
                                super::random::drop_in_place(row, r * n, p, seed);
                            }
                        })
                    };
                    if keep_input {
                        // The pre-activation is copied out between the two passes.
                        finish_rows(&mut out, true, false);
                        let mut z = host_pool::uninit(out.len());
                        z.copy_from_slice(&out);
                        second = Some(Tensor::from_cpu(shape.clone(), z));
                        finish_rows(&mut out, false, true);
                    } else {
                        finish_rows(&mut out, true, true);
                    }
                }
                Finish::RowSums { .. } => {
                    second = Some(a.sum_axis(if ta { 0 } else { 1 }, false)?);
                }
            }
            Ok((Tensor::from_cpu(shape, out), second))
        }
        Device::Gpu(ctx) => {
            let max_groups = ctx.limits().max_compute_workgroups_per_dimension as usize;
            if count > max_groups || m.div_ceil(TILE) > max_groups || n.div_ceil(TILE) > max_groups
            {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "at most {max_groups} batches and {} rows or columns on this GPU, got batch {count}, {m}x{n}",
                        max_groups * TILE
                    ),
                ));
            }
            let out = ctx.alloc(count * m * n, "matmul result")?;
            // The large-tile kernel keeps no row sums and reads no gate.
            let extras = matches!(finish, Finish::RowSums { .. }) || gate.is_some();
            let layout = gpu_layout([m, k, n], count, (ta, tb), extras, ctx.occupancy());
            let (shader, entry) = (layout.shader, layout.entry);
            let gate_code = Epilogue::code(gate.and_then(|g| g.epilogue));
            let keep_input = matches!(
                finish,
                Finish::Dense {
                    keep_input: true,
                    ..
                }
            );
            let gate_alpha = gate.and_then(|g| g.epilogue).map_or(0.0, |e| e.alpha());
            let [pen_l1, pen_l2] = gate.map_or([0.0; 2], |g| g.penalty);
            let dropout = match finish {
                Finish::Dense { dropout, .. } => dropout,
                _ => gate.and_then(|g| g.dropout),
            };
            let (kernel, alpha) = match finish {
                Finish::Plain { gate: None } => (Kernel::new(shader, entry, 2, 1), 0.0),
                Finish::Plain { gate: Some(_) } => (
                    Kernel::new("matmul_gated", entry, 3, 1).with("ACT_A", gate_code),
                    gate_alpha,
                ),
                Finish::Dense { bias, epilogue, .. } => {
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
                Finish::RowSums { gate: None } => (
                    Kernel::new("matmul_row_sums", entry, 2, 2).with("ROW_SUMS", 1),
                    0.0,
                ),
                Finish::RowSums { gate: Some(_) } => (
                    Kernel::new("matmul_row_sums_gated", entry, 3, 2)
                        .with("ROW_SUMS", 1)
                        .with("ACT_A", gate_code),
                    gate_alpha,
                ),
            };
            let mut inputs = vec![a.gpu_buffer(), b.gpu_buffer()];
            if let Finish::Dense { bias, .. } = finish {
                // Without a bias the dense kernel's bias binding reads b (never used).
                inputs.push(bias.unwrap_or(b).gpu_buffer());
            }
            inputs.extend(gate.map(|g| g.saved().gpu_buffer()));
            let second_shape = match finish {
                Finish::RowSums { .. } => Some((Shape::new(&[count * m])?, "row sums")),
                _ if keep_input => Some((shape.clone(), "pre-activation")),
                _ => None,
            };
            let second = second_shape
                .as_ref()
                .map(|(s, label)| ctx.alloc(s.numel(), label))
                .transpose()?;
            let mut outputs = vec![&out];
            outputs.extend(second.as_ref());
            let mut kernel = kernel.with("TRANS_A", ta as u32).with("TRANS_B", tb as u32);
            if layout.is_split() {
                kernel = kernel
                    .with("TM", layout.tile[0] as u32)
                    .with("TN", layout.tile[1] as u32);
            }
            let [groups_x, groups_y, groups_z] = layout.workgroups(m, n, count);
            ctx.dispatch(
                &kernel,
                &inputs,
                &outputs,
                super::random::dropout_words(
                    Params::new()
                        .u(m)
                        .u(n)
                        .u(k)
                        .u(stride_a)
                        .u(stride_b)
                        .u(m * n)
                        .f(alpha)
                        .f(pen_l1)
                        .f(pen_l2)
                        .flops(2 * count * m * n * k),
                    dropout,
                ),
                [groups_x as u32, groups_y as u32, groups_z as u32],
            );
            let second = second_shape
                .zip(second)
                .map(|((s, _), buffer)| Tensor::from_gpu(s, buffer, &device));
            Ok((Tensor::from_gpu(shape, out, &device), second))
        }
    }
}

/// C = op(A)·op(B) + beta·C on the CPU for row-major C (m x n): op(A) is m x k read from
/// `a` (stored k x m when `ta`), op(B) is k x n read from `b` (stored n x k when `tb`).
/// The slices may be longer than the matrices; they must not be shorter.
#[allow(clippy::too_many_arguments)] // the BLAS signature
pub(crate) fn cpu_gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    beta: f32,
    c: &mut [f32],
) {
    let a = if ta {
        MatrixView::new(a, 1, m)
    } else {
        MatrixView::new(a, k, 1)
    };
    let b = if tb {
        MatrixView::new(b, 1, k)
    } else {
        MatrixView::new(b, n, 1)
    };
    // Large products use every core, unless this runs inside a task of a parallel loop.
    let parallel = m * n * k >= PARALLEL_GEMM_FLOPS && super::cpu::may_split_products();
    cpu_gemm_strided([m, k, n], a, b, beta, c, n, parallel);
}

/// A read-only matrix inside a slice: element (r, c) is `data[r·row_stride + c·col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatrixView<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatrixView<'a> {
    /// The matrix of `data` with these strides.
    pub(crate) fn new(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        MatrixView {
            data,
            row_stride,
            col_stride,
        }
    }

    /// Whether a rows x cols matrix with these strides lies inside the slice.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// C = A·B + beta·C on the CPU for strided A (m x k) and B (k x n) and a row-major C
/// (m x n) whose rows are `c_row_stride` apart; on every core when `parallel`.
pub(crate) fn cpu_gemm_strided(
    [m, k, n]: [usize; 3],
    a: MatrixView,
    b: MatrixView,
    beta: f32,
    c: &mut [f32],
    c_row_stride: usize,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        c_row_stride >= n && (m - 1) * c_row_stride + n <= c.len(),
        "wgnn bug: GEMM output shorter than its matrix"
    );
    if k == 0 {
        // BLAS semantics: beta = 0 overwrites (even NaN), otherwise scales.
        for row in c.chunks_mut(c_row_stride).take(m) {
            row[..n]
                .iter_mut()
                .for_each(|v| *v = if beta == 0.0 { 0.0 } else { *v * beta });
        }
        return;
    }
    assert!(
        a.fits(m, k) && b.fits(k, n),
        "wgnn bug: GEMM operands shorter than their matrices"
    );
    // gemm reads a k-contiguous B slowly when k is large (3-4x at the MNIST CNN's dense
    // layer, 128x9216 · 9216x128; its columns then lie a multiple of 4 KiB apart): a
    // row-major copy costs one pass over B and gives the fast kernel back.
    let copied = (b.row_stride == 1 && b.col_stride != 1 && m >= 16 && k * n >= 1 << 16)
        .then(|| row_major_copy(b, k, n, parallel));
    let b = copied
        .as_deref()
        .map_or(b, |copy| MatrixView::new(copy, n, 1));
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assertions above guarantee that every element of A, B and C that these
    // strides address lies inside its slice; c does not alias a or b (it is borrowed
    // mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_row_stride as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            beta,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    if let Some(copy) = copied {
        host_pool::give_back(copy);
    }
}

/// The rows x cols matrix `m` copied row-major, in blocks of 16x16 so that both sides
/// stay in cache; over every core when `parallel`.
fn row_major_copy(m: MatrixView, rows: usize, cols: usize, parallel: bool) -> Vec<f32> {
    const BLOCK: usize = 16;
    let mut out = host_pool::uninit(rows * cols);
    let copy_rows = |(band, dst): (usize, &mut [f32])| {
        let first = band * BLOCK;
        for c0 in (0..cols).step_by(BLOCK) {
            for (i, row) in dst.chunks_exact_mut(cols).enumerate() {
                let r = first + i;
                for (c, value) in row.iter_mut().enumerate().skip(c0).take(BLOCK) {
                    *value = m.data[r * m.row_stride + c * m.col_stride];
                }
            }
        }
    };
    if parallel {
        out.par_chunks_mut(BLOCK * cols)
            .enumerate()
            .for_each(copy_rows);
    } else {
        out.chunks_mut(BLOCK * cols).enumerate().for_each(copy_rows);
    }
    out
}

/// Multiply-adds above which a CPU GEMM is split over the cores.
const PARALLEL_GEMM_FLOPS: usize = 1 << 18;

/// Sums a batched gradient over its batch when the operand itself was 2-D.
fn unbatch(grad: Tensor, operand_rank: usize) -> Result<Tensor> {
    if grad.rank() == 3 && operand_rank == 2 {
        grad.sum_axis(0, false)
    } else {
        Ok(grad)
    }
}

impl Tensor {
    /// The matrix product self · other; either may be batched (rank 3).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_t(other, false, false)
    }

    /// op(self) · op(other), where op transposes the last two axes when asked; the
    /// transposed operand is read in place, never copied.
    pub fn matmul_t(
        &self,
        other: &Tensor,
        transpose_self: bool,
        transpose_other: bool,
    ) -> Result<Tensor> {
        let (ta, tb) = (transpose_self, transpose_other);
        let out = forward(self, other, ta, tb)?;
        let (a, b) = (self.detach(), other.detach());
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Ok(record("matmul", out, &[self, other], move |g| {
            let ga = if !need_a {
                None
            } else if ta {
                Some(forward(&b, g, tb, true)?)
            } else {
                Some(forward(g, &b, false, !tb)?)
            };
            let gb = if !need_b {
                None
            } else if tb {
                Some(forward(g, &a, true, ta)?)
            } else {
                Some(forward(&a, g, !ta, false)?)
            };
            Ok(vec![
                ga.map(|t| unbatch(t, a.rank())).transpose()?,
                gb.map(|t| unbatch(t, b.rank())).transpose()?,
            ])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A k-contiguous B big enough to be copied row-major first (m ≥ 16, k·n ≥ 2^16) gives
    /// what a plain triple loop gives, on one core and on all, with beta and a C whose
    /// rows are padded; so do the shapes just under the thresholds, which skip the copy.
    #[test]
    fn a_k_contiguous_b_is_multiplied_as_a_plain_loop_would() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for [m, k, n] in [
            [17, 1031, 67],
            [15, 1031, 67],
            [16, 1000, 65],
            [40, 257, 255],
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            // B (k x n) stored as n rows of k: element (r, c) at c·k + r.
            let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let stride = n + 3;
            let c0: Vec<f32> = (0..m * stride)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let mut want = c0.clone();
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k)
                        .map(|p| f64::from(a[i * k + p]) * f64::from(b[j * k + p]))
                        .sum();
                    want[i * stride + j] = (dot + 0.5 * f64::from(c0[i * stride + j])) as f32;
                }
            }
            for parallel in [false, true] {
                let mut c = c0.clone();
                let (av, bv) = (MatrixView::new(&a, k, 1), MatrixView::new(&b, 1, k));
                cpu_gemm_strided([m, k, n], av, bv, 0.5, &mut c, stride, parallel);
                for (i, (got, want)) in c.iter().zip(&want).enumerate() {
                    let tolerance = 1e-4 * (k as f32).sqrt();
                    assert!(
                        (got - want).abs() <= tolerance,
                        "{m}x{k}x{n}, parallel {parallel}, element {i}: {got} against {want}"
                    );
                }
            }
        }
    }
}
