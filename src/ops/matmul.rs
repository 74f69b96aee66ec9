//! Matrix products, 2-D and batched, either operand read transposed without a copy
//! (shaders/matmul.wgsl; the gemm crate's SGEMM on the CPU), and the GEMM plumbing the
//! dense layer (src/ops/dense.rs) finishes or gates them with.

use super::matmul_gpu::Product;
use super::unary::Epilogue;
use crate::autograd::record;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};
use rayon::prelude::*;

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
    pub(super) fn saved(&self) -> &'a Tensor {
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
#[derive(Clone, Copy)]
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
    /// The gate A is read through, if any.
    pub(super) fn gate(&self) -> Option<Gate<'_>> {
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
            let product = Product {
                dims: [m, k, n],
                count,
                transposed: (ta, tb),
                strides: [stride_a, stride_b],
            };
            super::matmul_gpu::product(ctx, &device, [a, b], &product, &finish, shape)
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
