//! The CPU twin of conv2d: im2col over a chunk of images at once, one large SGEMM per
//! chunk (so the GEMM has enough columns to use every core), and col2im for the input
//! gradient. The copies run in parallel over rows or images.

use super::conv::Geometry;
use super::matmul::cpu_gemm;
use rayon::prelude::*;

/// Most f32 values an im2col chunk holds (8 MiB): small enough to stay in cache between
/// im2col and the GEMM, large enough for the GEMM to use every core.
const CHUNK_VALUES: usize = 2 << 20;

impl Geometry {
    /// Images per chunk: as many as fit in CHUNK_VALUES, at least one.
    fn chunk_images(&self) -> usize {
        (CHUNK_VALUES / (self.taps() * self.positions()).max(1)).clamp(1, self.n.max(1))
    }

    /// The valid output columns [lo, hi) of kernel column `kx`: those whose input column
    /// ox·sw + kx·dw − pw lies inside the image.
    fn valid_columns(&self, kx: usize) -> (usize, usize) {
        let o = &self.opts;
        let shift = kx * o.dilation[1];
        let lo = o.padding[1].saturating_sub(shift).div_ceil(o.stride[1]);
        let end = (self.w + o.padding[1]).saturating_sub(shift); // ix < w ⇔ ox·sw < end
        let hi = end.div_ceil(o.stride[1]).min(self.ow);
        (lo.min(hi), hi)
    }

    /// kx·dw − pw, wrapping: input column = ox·sw + this, for ox in `valid_columns(kx)`.
    fn column_offset(&self, kx: usize) -> usize {
        (kx * self.opts.dilation[1]).wrapping_sub(self.opts.padding[1])
    }

    /// The input row of output row `oy` at kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let o = &self.opts;
        (oy * o.stride[0] + ky * o.dilation[0])
            .checked_sub(o.padding[0])
            .filter(|&iy| iy < self.h)
    }

    /// The (taps x images·positions) im2col matrix of `images` consecutive images of `x`.
    fn im2col_chunk(&self, x: &[f32], first: usize, images: usize, col: &mut [f32]) {
        let (p, plane, image) = (self.positions(), self.h * self.w, self.c * self.h * self.w);
        let (kh, kw, sw) = (self.kh, self.kw, self.opts.stride[1]);
        col.par_chunks_mut(images * p)
            .enumerate()
            .for_each(|(k, row)| {
                let (c, ky, kx) = (k / (kh * kw), (k / kw) % kh, k % kw);
                let (lo, hi) = self.valid_columns(kx);
                let base = self.column_offset(kx);
                for (i, block) in row.chunks_mut(p).enumerate() {
                    let src = &x[(first + i) * image + c * plane..][..plane];
                    for (oy, out) in block.chunks_mut(self.ow).enumerate() {
                        let Some(iy) = self.input_row(oy, ky) else {
                            out.fill(0.0);
                            continue;
                        };
                        out[..lo].fill(0.0);
                        out[hi..].fill(0.0);
                        let line = &src[iy * self.w..(iy + 1) * self.w];
                        for (ox, v) in out.iter_mut().enumerate().take(hi).skip(lo) {
                            *v = line[(ox * sw).wrapping_add(base)];
                        }
                    }
                }
            });
    }

    /// Adds an im2col-shaped gradient of `images` images back onto their input gradient.
    fn col2im_chunk(&self, col: &[f32], first: usize, images: usize, dx: &mut [f32]) {
        let (p, plane, image) = (self.positions(), self.h * self.w, self.c * self.h * self.w);
        let (kh, kw, sw) = (self.kh, self.kw, self.opts.stride[1]);
        let cols = images * p;
        dx[first * image..(first + images) * image]
            .par_chunks_mut(image)
            .enumerate()
            .for_each(|(i, grad)| {
                for k in 0..self.taps() {
                    let (c, ky, kx) = (k / (kh * kw), (k / kw) % kh, k % kw);
                    let (lo, hi) = self.valid_columns(kx);
                    let base = self.column_offset(kx);
                    let block = &col[k * cols + i * p..][..p];
                    for (oy, src) in block.chunks(self.ow).enumerate() {
                        let Some(iy) = self.input_row(oy, ky) else {
                            continue;
                        };
                        let line = &mut grad[c * plane + iy * self.w..][..self.w];
                        for ox in lo..hi {
                            line[(ox * sw).wrapping_add(base)] += src[ox];
                        }
                    }
                }
            });
    }

    /// For image `i` of a chunk of `images` and channel `o`: the range of its plane in
    /// the (O, images·P) GEMM layout.
    fn gemm_range(&self, i: usize, o: usize, images: usize) -> std::ops::Range<usize> {
        let p = self.positions();
        let start = o * images * p + i * p;
        start..start + p
    }

    /// Copies the chunk's planes from the (N, O, P) layout into the GEMM layout.
    fn gather_for_gemm(&self, nop: &[f32], gemm: &mut [f32], first: usize, images: usize) {
        let p = self.positions();
        for i in 0..images {
            for o in 0..self.o {
                let plane = &nop[((first + i) * self.o + o) * p..][..p];
                gemm[self.gemm_range(i, o, images)].copy_from_slice(plane);
            }
        }
    }

    /// Copies the chunk's planes from the GEMM layout into the (N, O, P) layout.
    fn scatter_from_gemm(&self, gemm: &[f32], nop: &mut [f32], first: usize, images: usize) {
        let p = self.positions();
        for i in 0..images {
            for o in 0..self.o {
                nop[((first + i) * self.o + o) * p..][..p]
                    .copy_from_slice(&gemm[self.gemm_range(i, o, images)]);
            }
        }
    }

    /// y (N, O, OH, OW) = conv(x, w) + bias.
    pub(super) fn cpu_forward(&self, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let mut y = vec![0.0f32; self.n * self.o * p];
        let chunk = self.chunk_images();
        let mut col = vec![0.0f32; k * chunk * p];
        let mut product = vec![0.0f32; self.o * chunk * p];
        for first in (0..self.n).step_by(chunk) {
            let images = chunk.min(self.n - first);
            let cols = images * p;
            self.im2col_chunk(x, first, images, &mut col[..k * cols]);
            for (o, row) in product[..self.o * cols].chunks_mut(cols).enumerate() {
                row.fill(bias[o]);
            }
            cpu_gemm(self.o, k, cols, w, false, &col, false, 1.0, &mut product);
            self.scatter_from_gemm(&product, &mut y, first, images);
        }
        y
    }

    /// dx from dy: per chunk, col = Wᵀ·dy (one parallel GEMM), then col2im.
    pub(super) fn cpu_input_grad(&self, w: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let mut dx = vec![0.0f32; self.n * self.c * self.h * self.w];
        let chunk = self.chunk_images();
        let mut col = vec![0.0f32; k * chunk * p];
        let mut dy_gemm = vec![0.0f32; self.o * chunk * p];
        for first in (0..self.n).step_by(chunk) {
            let images = chunk.min(self.n - first);
            let cols = images * p;
            self.gather_for_gemm(dy, &mut dy_gemm, first, images);
            // col = Wᵀ (taps x O) · dy (O x cols)
            cpu_gemm(k, self.o, cols, w, true, &dy_gemm, false, 0.0, &mut col);
            self.col2im_chunk(&col, first, images, &mut dx);
        }
        dx
    }

    /// dW from dy: the chunks are split between the cores, each summing its own partial
    /// dW with serial GEMMs (the product's long inner dimension does not split well), and
    /// the partials are added.
    pub(super) fn cpu_weight_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p) = (self.taps(), self.positions());
        let chunk = self.chunk_images();
        let firsts: Vec<usize> = (0..self.n).step_by(chunk).collect();
        let tasks = rayon::current_num_threads().clamp(1, firsts.len().max(1));
        let partials: Vec<Vec<f32>> = (0..tasks)
            .into_par_iter()
            .map(|t| {
                let mut dw = vec![0.0f32; self.o * k];
                let mut col = vec![0.0f32; k * chunk * p];
                let mut dy_gemm = vec![0.0f32; self.o * chunk * p];
                for &first in firsts.iter().skip(t).step_by(tasks) {
                    let images = chunk.min(self.n - first);
                    let cols = images * p;
                    self.gather_for_gemm(dy, &mut dy_gemm, first, images);
                    self.im2col_chunk(x, first, images, &mut col[..k * cols]);
                    // dW += dy (O x cols) · colᵀ (cols x taps)
                    cpu_gemm(self.o, cols, k, &dy_gemm, false, &col, true, 1.0, &mut dw);
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
