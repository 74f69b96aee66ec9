//! The CPU twin of conv2d: Winograd F(2x2, 3x3) (winograd_cpu.rs) where it applies, else
//! im2col + SGEMM. The images are split into one contiguous range per core; each
//! core walks its images one at a time, building the im2col matrix of a block of output
//! rows in a scratch buffer that stays in its cache, and multiplies it with a serial
//! SGEMM. In NCHW an image's output (O x positions) and output gradient are plain
//! row-major matrices, so the products read and write them in place.

use super::conv::Geometry;
use super::cpu::sum_middle_axis;
use super::matmul::{cpu_gemm_strided, MatrixView};
use super::unary::Epilogue;
use super::winograd_cpu::Winograd;
use crate::tensor::host_pool;
use rayon::prelude::*;
use std::ops::Range;

/// Most f32 values of one im2col block (1 MiB): it stays in a core's L2 cache between
/// im2col and the GEMM.
const BLOCK_VALUES: usize = 1 << 18;

/// Where tap k of output row oy reads its input: output columns `lo..hi` read the input
/// values at `start + ox·stride` (inside the image's C x H x W values); the other columns
/// read padding.
struct TapRow {
    start: usize,
    lo: usize,
    hi: usize,
}

/// A block of output rows of one image: the rows, and where its columns lie in the
/// image's (O x positions) output matrix.
struct RowBlock {
    rows: Range<usize>,
    /// The first output position (rows.start · OW).
    first: usize,
    /// Output positions in the block (rows · OW): the im2col matrix's columns.
    cols: usize,
}

impl Geometry {
    /// Output rows per im2col block: as many as fit in BLOCK_VALUES, at least one.
    fn block_rows(&self) -> usize {
        (BLOCK_VALUES / (self.taps() * self.ow).max(1)).clamp(1, self.oh.max(1))
    }

    /// The blocks of output rows of one image.
    fn row_blocks(&self) -> impl Iterator<Item = RowBlock> + '_ {
        let rows = self.block_rows();
        (0..self.oh).step_by(rows).map(move |r| {
            let rows = r..(r + rows).min(self.oh);
            RowBlock {
                first: rows.start * self.ow,
                cols: rows.len() * self.ow,
                rows,
            }
        })
    }

    /// Images per core's range.
    pub(super) fn images_per_task(&self) -> usize {
        self.n.div_ceil(rayon::current_num_threads().max(1)).max(1)
    }

    /// Values of one input image and of one output image.
    pub(super) fn image_sizes(&self) -> (usize, usize) {
        (self.c * self.h * self.w, self.o * self.positions())
    }

    /// The input that tap k (channel, kernel row, kernel column) reads for output row oy,
    /// or None when that whole row reads padding.
    fn tap_row(&self, k: usize, oy: usize) -> Option<TapRow> {
        let o = &self.opts;
        let (c, ky, kx) = (
            k / (self.kh * self.kw),
            (k / self.kw) % self.kh,
            k % self.kw,
        );
        let iy = (oy * o.stride[0] + ky * o.dilation[0]).checked_sub(o.padding[0])?;
        if iy >= self.h {
            return None;
        }
        // Input column ox·sw + shift − pw lies inside [0, w) for ox in [lo, hi).
        let shift = kx * o.dilation[1];
        let lo = o.padding[1].saturating_sub(shift).div_ceil(o.stride[1]);
        let end = (self.w + o.padding[1]).saturating_sub(shift);
        let hi = end.div_ceil(o.stride[1]).min(self.ow);
        let lo = lo.min(hi);
        // The input index of a virtual column 0 (wrapping: only columns lo.. are read).
        let start = (c * self.h * self.w + iy * self.w + shift).wrapping_sub(o.padding[1]);
        Some(TapRow { start, lo, hi })
    }

    /// The (taps x rows·OW) im2col matrix of output rows `rows` of image `x`.
    fn im2col_block(&self, x: &[f32], rows: Range<usize>, col: &mut [f32]) {
        let (ow, sw) = (self.ow, self.opts.stride[1]);
        let cols = rows.len() * ow;
        for (k, tap) in col.chunks_mut(cols).take(self.taps()).enumerate() {
            for (oy, out) in rows.clone().zip(tap.chunks_mut(ow)) {
                let Some(t) = self.tap_row(k, oy) else {
                    out.fill(0.0);
                    continue;
                };
                out[..t.lo].fill(0.0);
                out[t.hi..].fill(0.0);
                let at = |ox: usize| t.start.wrapping_add(ox * sw);
                if sw == 1 {
                    out[t.lo..t.hi].copy_from_slice(&x[at(t.lo)..at(t.hi)]);
                } else {
                    for ox in t.lo..t.hi {
                        out[ox] = x[at(ox)];
                    }
                }
            }
        }
    }

    /// Adds the im2col-shaped gradient `col` of output rows `rows` onto image gradient dx.
    fn col2im_block(&self, col: &[f32], rows: Range<usize>, dx: &mut [f32]) {
        let (ow, sw) = (self.ow, self.opts.stride[1]);
        let cols = rows.len() * ow;
        for (k, tap) in col.chunks(cols).take(self.taps()).enumerate() {
            for (oy, src) in rows.clone().zip(tap.chunks(ow)) {
                let Some(t) = self.tap_row(k, oy) else {
                    continue;
                };
                let at = |ox: usize| t.start.wrapping_add(ox * sw);
                if sw == 1 {
                    dx[at(t.lo)..at(t.hi)]
                        .iter_mut()
                        .zip(&src[t.lo..t.hi])
                        .for_each(|(d, s)| *d += s);
                } else {
                    for ox in t.lo..t.hi {
                        dx[at(ox)] += src[ox];
                    }
                }
            }
        }
    }

    /// A scratch buffer for one im2col block.
    fn block_scratch(&self) -> Vec<f32> {
        vec![0.0f32; self.taps() * self.block_rows() * self.ow]
    }

    /// y (N, O, OH, OW) = epilogue(conv(x, w) + bias): by Winograd where it applies, else
    /// by im2col; the epilogue runs on each image's output as soon as it is computed.
    pub(super) fn cpu_forward(
        &self,
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        epilogue: Option<Epilogue>,
    ) -> Vec<f32> {
        match Winograd::plan(self) {
            Some(winograd) => winograd.forward(x, w, bias, epilogue),
            None => self.im2col_forward(x, w, bias, epilogue),
        }
    }

    /// y = epilogue(conv(x, w) + bias) by im2col.
    pub(super) fn im2col_forward(
        &self,
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        epilogue: Option<Epilogue>,
    ) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let (x_image, y_image) = self.image_sizes();
        let mut y = host_pool::uninit(self.n * y_image); // every row is set to its bias
        let per_task = self.images_per_task();
        y.par_chunks_mut(per_task * y_image.max(1))
            .enumerate()
            .for_each(|(t, ys)| {
                let mut col = self.block_scratch();
                for (i, y) in ys.chunks_mut(y_image).enumerate() {
                    let x = &x[(t * per_task + i) * x_image..][..x_image];
                    for (row, &b) in y.chunks_mut(p).zip(bias) {
                        row.fill(b);
                    }
                    for RowBlock { rows, first, cols } in self.row_blocks() {
                        self.im2col_block(x, rows, &mut col);
                        // y[:, block] += W (O x taps) · col (taps x cols)
                        let (a, b) = (MatrixView::new(w, k, 1), MatrixView::new(&col, cols, 1));
                        let y = &mut y[first..];
                        cpu_gemm_strided([self.o, k, cols], a, b, 1.0, y, p, false);
                    }
                    if let Some(e) = epilogue {
                        e.apply_in_place(y);
                    }
                }
            });
        y
    }

    /// The input, weight and bias gradients from dy, each where `wanted`, for an output
    /// that went through `gate`'s activation (with the values it saved, its output or its
    /// input: dz = dy ⊙ act'(z)). Winograd,
    /// where it applies, computes all three together and gates dy image by image as it
    /// reads it; otherwise dz is computed once and im2col products follow.
    pub(super) fn cpu_backward(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        gate: Option<(Epilogue, &[f32])>,
        wanted: [bool; 3],
    ) -> [Option<Vec<f32>>; 3] {
        if let Some(winograd) = Winograd::plan(self) {
            return winograd.backward(x, w, dy, gate, wanted);
        }
        let gated = gate.map(|(e, y)| e.cpu_gate(dy, y));
        let dz = gated.as_deref().unwrap_or(dy);
        [
            wanted[0].then(|| self.cpu_input_grad(w, dz)),
            wanted[1].then(|| self.cpu_weight_grad(x, dz)),
            wanted[2].then(|| self.cpu_bias_grad(dz)),
        ]
    }

    /// The bias gradient: dz summed over images and positions, per output channel.
    pub(super) fn cpu_bias_grad(&self, dz: &[f32]) -> Vec<f32> {
        let per_image = sum_middle_axis(dz, [self.n * self.o, self.positions(), 1]);
        sum_middle_axis(&per_image, [1, self.n, self.o])
    }

    /// dx from dy by im2col: per block, col = Wᵀ·dy[:, block], then col2im.
    pub(super) fn cpu_input_grad(&self, w: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let (x_image, y_image) = self.image_sizes();
        let mut dx = host_pool::zeros(self.n * x_image);
        if y_image == 0 {
            return dx; // no output channels: nothing flows back
        }
        let per_task = self.images_per_task();
        dx.par_chunks_mut(per_task * x_image.max(1))
            .enumerate()
            .for_each(|(t, dxs)| {
                let mut col = self.block_scratch();
                for (i, dx) in dxs.chunks_mut(x_image).enumerate() {
                    let dy = &dy[(t * per_task + i) * y_image..][..y_image];
                    for RowBlock { rows, first, cols } in self.row_blocks() {
                        // col (taps x cols) = Wᵀ (taps x O) · dy[:, block] (O x cols)
                        let (a, b) = (
                            MatrixView::new(w, 1, k),
                            MatrixView::new(&dy[first..], p, 1),
                        );
                        cpu_gemm_strided([k, self.o, cols], a, b, 0.0, &mut col, cols, false);
                        self.col2im_block(&col, rows, dx);
                    }
                }
            });
        dx
    }

    /// dW from dy by im2col: each core sums a partial dW over its images, and the partials
    /// are added.
    pub(super) fn cpu_weight_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let (x_image, y_image) = self.image_sizes();
        if y_image == 0 {
            return vec![0.0f32; self.o * k];
        }
        let per_task = self.images_per_task();
        let partials: Vec<Vec<f32>> = (0..self.n.div_ceil(per_task))
            .into_par_iter()
            .map(|t| {
                let mut dw = vec![0.0f32; self.o * k];
                let mut col = self.block_scratch();
                for image in t * per_task..((t + 1) * per_task).min(self.n) {
                    let x = &x[image * x_image..][..x_image];
                    let dy = &dy[image * y_image..][..y_image];
                    for RowBlock { rows, first, cols } in self.row_blocks() {
                        self.im2col_block(x, rows, &mut col);
                        // dW (O x taps) += dy[:, block] (O x cols) · colᵀ (cols x taps)
                        let (a, b) = (
                            MatrixView::new(&dy[first..], p, 1),
                            MatrixView::new(&col, 1, cols),
                        );
                        cpu_gemm_strided([self.o, cols, k], a, b, 1.0, &mut dw, k, false);
                    }
                }
                dw
            })
            .collect();
        let mut total = partials.into_iter();
        let first = total.next().unwrap_or_else(|| vec![0.0f32; self.o * k]);
        total.fold(first, |mut sum, part| {
            sum.iter_mut().zip(&part).for_each(|(s, v)| *s += v);
            sum
        })
    }
}
