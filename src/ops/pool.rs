//! 2-D max and average pooling in NCHW (shaders/pool.wgsl) with their CPU twins. Max
//! pooling routes its gradient to the arg-max of each window; average pooling spreads it
//! over the window's taps inside the image (padding is not counted, as in Keras).

use super::cpu::{par_chunks, simd};
use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};
use rayon::prelude::*;
use std::borrow::Cow;

/// Window, stride and zero padding of a pooling op, as (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dOptions {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows (the window size by default, as in Keras and PyTorch).
    pub stride: [usize; 2],
    /// Padding on each side; at most half the window.
    pub padding: [usize; 2],
}

impl Pool2dOptions {
    /// Non-overlapping `kernel` windows: stride = kernel, no padding.
    pub fn new(kernel: [usize; 2]) -> Self {
        Pool2dOptions {
            kernel,
            stride: kernel,
            padding: [0, 0],
        }
    }

    /// The same windows with another stride.
    pub fn with_stride(self, stride: [usize; 2]) -> Self {
        Pool2dOptions { stride, ..self }
    }

    /// The same windows with padding on each side.
    pub fn with_padding(self, padding: [usize; 2]) -> Self {
        Pool2dOptions { padding, ..self }
    }
}

/// Which reduction a pooling window applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reduction {
    Max,
    Average,
}

impl Reduction {
    fn name(self) -> &'static str {
        match self {
            Reduction::Max => "max_pool2d",
            Reduction::Average => "avg_pool2d",
        }
    }
}

/// Every size of one pooling op.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    opts: Pool2dOptions,
}

/// Largest plane whose pixel indices f32 holds exactly (the arg-max is kept as f32).
const MAX_PLANE: usize = 1 << 24;

impl Geometry {
    fn new(op: &'static str, x: &Tensor, opts: Pool2dOptions) -> Result<Geometry> {
        let &[n, c, h, w] = x.dims() else {
            return Err(Error::shape(
                op,
                "an input of shape (N, C, H, W)",
                format!("{}", x.shape()),
            ));
        };
        let [kh, kw] = opts.kernel;
        if kh == 0 || kw == 0 || opts.stride.contains(&0) {
            return Err(Error::invalid(
                op,
                format!("window and stride must be >= 1, got {opts:?}"),
            ));
        }
        if 2 * opts.padding[0] > kh || 2 * opts.padding[1] > kw {
            return Err(Error::invalid(
                op,
                format!(
                    "padding must be at most half the window, got padding {:?} for a {kh}x{kw} window",
                    opts.padding
                ),
            ));
        }
        if h * w >= MAX_PLANE {
            return Err(Error::invalid(
                op,
                format!("planes of under {MAX_PLANE} pixels, got {h}x{w}"),
            ));
        }
        let out = |size: usize, k: usize, axis: usize| -> Result<usize> {
            let padded = size + 2 * opts.padding[axis];
            if padded < k {
                return Err(Error::shape(
                    op,
                    format!(
                        "an input of at least {k} (the window) along axis {} after padding",
                        axis + 2
                    ),
                    format!("{padded}"),
                ));
            }
            Ok((padded - k) / opts.stride[axis] + 1)
        };
        Ok(Geometry {
            n,
            c,
            h,
            w,
            oh: out(h, kh, 0)?,
            ow: out(w, kw, 1)?,
            opts,
        })
    }

    fn planes(&self) -> usize {
        self.n * self.c
    }

    fn params(&self) -> Params {
        let o = &self.opts;
        [
            self.planes(),
            self.h,
            self.w,
            self.oh,
            self.ow,
            o.kernel[0],
            o.kernel[1],
            o.stride[0],
            o.stride[1],
            o.padding[0],
            o.padding[1],
        ]
        .into_iter()
        .fold(Params::new(), |p, v| p.u(v))
    }

    /// The in-image rows [y0, y1) and columns [x0, x1) of the window at output (oy, ox).
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let o = &self.opts;
        let clip = |start: usize, k: usize, pad: usize, size: usize| {
            (
                start.saturating_sub(pad),
                (start + k).saturating_sub(pad).min(size),
            )
        };
        let (y0, y1) = clip(oy * o.stride[0], o.kernel[0], o.padding[0], self.h);
        let (x0, x1) = clip(ox * o.stride[1], o.kernel[1], o.padding[1], self.w);
        (y0, y1, x0, x1)
    }

    /// The window's pixel with the largest value (the first on ties; a NaN wins).
    fn arg_max(&self, image: &[f32], oy: usize, ox: usize) -> usize {
        let (y0, y1, x0, x1) = self.window(oy, ox);
        let mut best = y0 * self.w + x0;
        let mut best_value = image[best];
        for y in y0..y1 {
            let row = y * self.w;
            for (q, &v) in image[row + x0..row + x1].iter().enumerate() {
                let take = beats(v, best_value);
                best = if take { row + x0 + q } else { best };
                best_value = if take { v } else { best_value };
            }
        }
        best
    }

    /// Whether every window is 2x2 without padding or overlap (the common case, which
    /// `max_plane_2x2` computes faster).
    fn is_plain_2x2(&self) -> bool {
        let o = &self.opts;
        o.kernel == [2, 2] && o.stride == [2, 2] && o.padding == [0, 0]
    }

    /// Max pooling of one plane with plain 2x2 windows: values and arg-max indices, as
    /// `arg_max` picks them (see `max_windows`).
    #[inline(always)] // into `simd`
    fn max_plane_2x2(&self, src: &[f32], values: &mut [f32], index: &mut [f32]) {
        let (w, ow) = (self.w, self.ow);
        for (oy, (values, index)) in values
            .chunks_exact_mut(ow)
            .zip(index.chunks_exact_mut(ow))
            .enumerate()
        {
            let row = 2 * oy * w;
            let top: &[[f32; 2]] = bytemuck::cast_slice(&src[row..row + 2 * ow]);
            let bottom: &[[f32; 2]] = bytemuck::cast_slice(&src[row + w..row + w + 2 * ow]);
            let rows = WindowRows {
                top,
                bottom,
                first: row as f32,
                w: w as f32,
            };
            for_runs(
                ow,
                #[inline(always)]
                |ox, len| match len {
                    BLOCK => rows.max_windows::<BLOCK>(ox, values, index),
                    _ => rows.max_windows::<1>(ox, values, index),
                },
            );
        }
    }

    /// Whether every pixel lies in exactly one window: plain 2x2 windows over even sides.
    fn tiles_2x2(&self) -> bool {
        self.is_plain_2x2() && self.h == 2 * self.oh && self.w == 2 * self.ow
    }

    /// The gradient of one plane of a max pooling whose windows tile it 2x2 (`tiles_2x2`):
    /// each pixel gets its window's dy if it won, else 0, written once without clearing.
    #[inline(always)] // into `simd`
    fn max_unpool_plane_2x2(&self, dy: &[f32], index: &[f32], grad: &mut [f32]) {
        let (w, ow) = (self.w, self.ow);
        for (oy, rows) in grad.chunks_exact_mut(2 * w).enumerate() {
            let (dy, index) = (&dy[oy * ow..(oy + 1) * ow], &index[oy * ow..(oy + 1) * ow]);
            let (top, bottom) = rows.split_at_mut(w);
            // Even lengths (`tiles_2x2`), so the casts cannot fail.
            let top: &mut [[f32; 2]] = bytemuck::cast_slice_mut(top);
            let bottom: &mut [[f32; 2]] = bytemuck::cast_slice_mut(bottom);
            let first = (2 * oy * w) as f32;
            for_runs(
                ow,
                #[inline(always)]
                |ox, len| match len {
                    BLOCK => unpool_windows::<BLOCK>(ox, first, w as f32, dy, index, top, bottom),
                    _ => unpool_windows::<1>(ox, first, w as f32, dy, index, top, bottom),
                },
            );
        }
    }

    /// The window's mean over its in-image pixels.
    fn average(&self, image: &[f32], oy: usize, ox: usize) -> f32 {
        let (y0, y1, x0, x1) = self.window(oy, ox);
        let sum: f32 = (y0..y1)
            .map(|y| image[y * self.w + x0..y * self.w + x1].iter().sum::<f32>())
            .sum();
        sum / ((y1 - y0) * (x1 - x0)) as f32
    }

    fn output_shape(&self) -> Result<Shape> {
        Shape::new(&[self.n, self.c, self.oh, self.ow])
    }
}

/// Whether `v` replaces `best` as a window's maximum: larger, or the first NaN. Branch-free
/// (`|` and `&`, not `||` and `&&`), as the comparisons are unpredictable on real data and
/// the plain 2x2 loops are vectorised.
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    (v > best) | (v.is_nan() & !best.is_nan())
}

/// Outputs one step of the plain 2x2 loops computes: a vector of f32 under AVX2.
const BLOCK: usize = 8;

/// Calls `f(start, len)` over runs that cover `0..n`: runs of `BLOCK` when `n >= BLOCK`, the
/// last one moved back to end at `n` (it overlaps its neighbour, whose outputs it writes
/// again, identically), else runs of 1. Short rows thus still run whole vectors.
#[inline(always)]
fn for_runs(n: usize, mut f: impl FnMut(usize, usize)) {
    // Plain `for` loops: `for_each` is a `fold` the inliner may leave out of line, and
    // with it the vector instructions of `simd`.
    if n < BLOCK {
        for start in 0..n {
            f(start, 1);
        }
    } else {
        for b in 0..n.div_ceil(BLOCK) {
            f((b * BLOCK).min(n - BLOCK), BLOCK);
        }
    }
}

/// One output row's two input rows, as pixel pairs, for plain 2x2 windows.
struct WindowRows<'a> {
    top: &'a [[f32; 2]],
    bottom: &'a [[f32; 2]],
    /// The plane index of the top row's first pixel.
    first: f32,
    /// The plane's width.
    w: f32,
}

impl WindowRows<'_> {
    /// The maxima and arg-max indices of windows `ox..ox + N`. Each row's pair is decided
    /// first, then the top pair's winner against the bottom's: the first maximum in
    /// `arg_max`'s order (top row, then bottom), or the first NaN. Fixed-size arrays, so
    /// the loop becomes vector instructions.
    #[inline(always)]
    fn max_windows<const N: usize>(&self, ox: usize, values: &mut [f32], index: &mut [f32]) {
        let pair = |rows: &[[f32; 2]]| -> [[f32; 2]; N] { rows[ox..ox + N].try_into().unwrap() };
        let (top, bottom) = (pair(self.top), pair(self.bottom));
        let values: &mut [f32; N] = (&mut values[ox..ox + N]).try_into().unwrap();
        let index: &mut [f32; N] = (&mut index[ox..ox + N]).try_into().unwrap();
        // `(2 * k) as f32` is a constant once the loop is unrolled; `ox + k` would be
        // converted lane by lane.
        let left = self.first + (2 * ox) as f32;
        for k in 0..N {
            let ([t0, t1], [b0, b1]) = (top[k], bottom[k]);
            let (tv, tq) = if beats(t1, t0) { (t1, 1.0) } else { (t0, 0.0) };
            let (bv, bq) = if beats(b1, b0) {
                (b1, self.w + 1.0)
            } else {
                (b0, self.w)
            };
            let (v, q) = if beats(bv, tv) { (bv, bq) } else { (tv, tq) };
            values[k] = v;
            index[k] = left + (2 * k) as f32 + q;
        }
    }
}

/// The gradient of windows `ox..ox + N` of one output row (`max_unpool_plane_2x2`): each
/// of a window's four pixels gets its dy if its plane index (from `first`, the top row's
/// first pixel, and `w`, the plane's width) is the window's arg-max, else 0.
#[inline(always)]
fn unpool_windows<const N: usize>(
    ox: usize,
    first: f32,
    w: f32,
    dy: &[f32],
    index: &[f32],
    top: &mut [[f32; 2]],
    bottom: &mut [[f32; 2]],
) {
    let dy: &[f32; N] = dy[ox..ox + N].try_into().unwrap();
    let index: &[f32; N] = index[ox..ox + N].try_into().unwrap();
    let top: &mut [[f32; 2]; N] = (&mut top[ox..ox + N]).try_into().unwrap();
    let bottom: &mut [[f32; 2]; N] = (&mut bottom[ox..ox + N]).try_into().unwrap();
    let left = first + (2 * ox) as f32; // as in `max_windows`
    for k in 0..N {
        // Both loaded up front, so that `pick` is a select rather than a branch to a load.
        let (pixel, won, grad) = (left + (2 * k) as f32, index[k], dy[k]);
        let pick = |at: f32| if won == at { grad } else { 0.0 };
        top[k] = [pick(pixel), pick(pixel + 1.0)];
        bottom[k] = [pick(pixel + w), pick(pixel + w + 1.0)];
    }
}

/// CPU forward: (output, arg-max index in the plane per output; empty for average), one
/// plane per task, the dropout applied to each plane while it is in cache.
fn cpu_forward(
    x: &[f32],
    g: &Geometry,
    reduction: Reduction,
    dropout: Dropout,
) -> (Vec<f32>, Vec<f32>) {
    let (plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut out = host_pool::uninit(g.planes() * out_plane);
    let image = |p: usize| &x[p * plane..(p + 1) * plane];
    let drop = |p: usize, values: &mut [f32]| {
        if let Some((rate, seed)) = dropout {
            super::random::drop_in_place(values, p * out_plane, rate, seed);
        }
    };
    match reduction {
        Reduction::Max => {
            let mut index = host_pool::uninit(out.len());
            let run = |p: usize, (values, plane_index): (&mut [f32], &mut [f32])| {
                let src = image(p);
                if g.is_plain_2x2() {
                    simd(
                        #[inline(always)]
                        || g.max_plane_2x2(src, values, plane_index),
                    );
                } else {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let q = g.arg_max(src, oy, ox);
                            values[oy * g.ow + ox] = src[q];
                            plane_index[oy * g.ow + ox] = q as f32;
                        }
                    }
                }
                drop(p, values);
            };
            out.par_chunks_mut(out_plane.max(1))
                .zip(index.par_chunks_mut(out_plane.max(1)))
                .enumerate()
                .for_each(|(p, pair)| run(p, pair));
            (out, index)
        }
        Reduction::Average => {
            par_chunks(&mut out, out_plane, |p, values| {
                for (j, v) in values.iter_mut().enumerate() {
                    *v = g.average(image(p), j / g.ow, j % g.ow);
                }
                drop(p, values);
            });
            (out, Vec::new())
        }
    }
}

/// CPU backward: scatters dy (times the dropout mask) onto the winning tap (max) or the
/// window's taps (average), one plane per task.
fn cpu_backward(
    dy: &[f32],
    index: &[f32],
    g: &Geometry,
    reduction: Reduction,
    dropout: Dropout,
) -> Vec<f32> {
    let (plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut dx = host_pool::uninit(g.planes() * plane); // each plane is written in full
    par_chunks(&mut dx, plane, |p, grad| {
        let outputs = p * out_plane..(p + 1) * out_plane;
        let plane_dy: Cow<[f32]> = match dropout {
            Some((rate, seed)) => {
                let mut masked = dy[outputs.clone()].to_vec();
                super::random::drop_in_place(&mut masked, outputs.start, rate, seed);
                Cow::Owned(masked)
            }
            None => Cow::Borrowed(&dy[outputs.clone()]),
        };
        let plane_index = &index[outputs];
        if reduction == Reduction::Max && g.tiles_2x2() {
            return simd(
                #[inline(always)]
                || g.max_unpool_plane_2x2(&plane_dy, plane_index, grad),
            );
        }
        // The plane may hold recycled values. Clearing it also writes fresh pages before
        // any `+=` reads them, which spares them a copy-on-write fault on the zero page.
        grad.fill(0.0);
        for (j, &d) in plane_dy.iter().enumerate() {
            match reduction {
                Reduction::Max => grad[plane_index[j] as usize] += d,
                Reduction::Average => {
                    let (y0, y1, x0, x1) = g.window(j / g.ow, j % g.ow);
                    let share = d / ((y1 - y0) * (x1 - x0)) as f32;
                    for y in y0..y1 {
                        grad[y * g.w + x0..y * g.w + x1]
                            .iter_mut()
                            .for_each(|v| *v += share);
                    }
                }
            }
        }
    });
    dx
}

/// A dropout applied to a pooling's output in the same kernel: (drop probability, seed).
type Dropout = Option<(f32, u64)>;

/// The pool kernels' parameters: the geometry, then the dropout (probability 0: none).
fn gpu_params(g: &Geometry, dropout: Dropout) -> Params {
    super::random::dropout_words(g.params(), dropout)
}

fn forward(
    x: &Tensor,
    g: &Geometry,
    reduction: Reduction,
    dropout: Dropout,
) -> Result<(Tensor, Option<Tensor>)> {
    let shape = g.output_shape()?;
    match x.device() {
        Device::Cpu => {
            let (out, index) = cpu_forward(&x.cpu_data(), g, reduction, dropout);
            let index =
                (reduction == Reduction::Max).then(|| Tensor::from_cpu(shape.clone(), index));
            Ok((Tensor::from_cpu(shape, out), index))
        }
        device @ Device::Gpu(ctx) => {
            let count = shape.numel();
            let out = ctx.alloc(count, reduction.name())?;
            let groups = ctx.groups_1d(count, super::WORKGROUP);
            let reads = [x.gpu_buffer(), x.gpu_buffer()];
            let index = match reduction {
                Reduction::Max => {
                    let index = ctx.alloc(count, "max_pool2d arg-max")?;
                    let kernel = Kernel::new("pool", "max_pool", 2, 2);
                    let params = gpu_params(g, dropout);
                    ctx.dispatch(&kernel, &reads, &[&out, &index], params, groups);
                    Some(Tensor::from_gpu(shape.clone(), index, device))
                }
                Reduction::Average => {
                    let kernel = Kernel::new("pool", "avg_pool", 2, 1);
                    ctx.dispatch(&kernel, &reads, &[&out], gpu_params(g, dropout), groups);
                    None
                }
            };
            Ok((Tensor::from_gpu(shape, out, device), index))
        }
    }
}

fn backward(
    dy: &Tensor,
    index: Option<&Tensor>,
    g: &Geometry,
    reduction: Reduction,
    dropout: Dropout,
) -> Result<Tensor> {
    let shape = Shape::new(&[g.n, g.c, g.h, g.w])?;
    let index = index.unwrap_or(dy);
    match dy.device() {
        Device::Cpu => {
            let dx = cpu_backward(&dy.cpu_data(), &index.cpu_data(), g, reduction, dropout);
            Ok(Tensor::from_cpu(shape, dx))
        }
        device @ Device::Gpu(ctx) => {
            let dx = ctx.alloc(shape.numel(), "pool2d gradient")?;
            let entry = match reduction {
                Reduction::Max => "max_pool_backward",
                Reduction::Average => "avg_pool_backward",
            };
            ctx.dispatch(
                &Kernel::new("pool", entry, 2, 1),
                &[dy.gpu_buffer(), index.gpu_buffer()],
                &[&dx],
                gpu_params(g, dropout),
                ctx.groups_1d(shape.numel(), super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(shape, dx, device))
        }
    }
}

impl Tensor {
    fn pool2d(
        &self,
        opts: Pool2dOptions,
        reduction: Reduction,
        dropout: Dropout,
    ) -> Result<Tensor> {
        let g = Geometry::new(reduction.name(), self, opts)?;
        if let Some((p, _)) = dropout {
            super::random::check_p(p)?;
        }
        let (out, index) = forward(self, &g, reduction, dropout)?;
        Ok(record(reduction.name(), out, &[self], move |dy| {
            Ok(vec![Some(backward(
                dy,
                index.as_ref(),
                &g,
                reduction,
                dropout,
            )?)])
        }))
    }

    /// 2-D max pooling of this (N, C, H, W) tensor; the gradient goes to each window's
    /// arg-max (the first one on ties).
    pub fn max_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        self.pool2d(options, Reduction::Max, None)
    }

    /// 2-D average pooling of this (N, C, H, W) tensor; windows that overlap the padding
    /// average only their taps inside the image (Keras' behaviour).
    pub fn avg_pool2d(&self, options: Pool2dOptions) -> Result<Tensor> {
        self.pool2d(options, Reduction::Average, None)
    }

    /// `max_pool2d(options)` then `dropout(p, seed)`, in the same kernel each way: one
    /// GPU dispatch forward and one back, the same values as the two ops.
    pub fn max_pool2d_dropout(&self, options: Pool2dOptions, p: f32, seed: u64) -> Result<Tensor> {
        self.pool2d(options, Reduction::Max, Some((p, seed)))
    }

    /// `avg_pool2d(options)` then `dropout(p, seed)`, in the same kernel each way.
    pub fn avg_pool2d_dropout(&self, options: Pool2dOptions, p: f32, seed: u64) -> Result<Tensor> {
        self.pool2d(options, Reduction::Average, Some((p, seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A plane of few distinct values (many ties), NaNs and -inf.
    fn awkward_plane(rng: &mut impl Rng, pixels: usize) -> Vec<f32> {
        (0..pixels)
            .map(|_| match rng.random_range(0..6) {
                0 => f32::NAN,
                1 => -f32::INFINITY,
                v => v as f32,
            })
            .collect()
    }

    fn plain_2x2(h: usize, w: usize) -> Geometry {
        let x = Tensor::zeros(&[2, 3, h, w], &crate::Device::Cpu).unwrap();
        Geometry::new("max_pool2d", &x, Pool2dOptions::new([2, 2])).unwrap()
    }

    /// The 2x2 fast path picks the same values and arg-maxes as the general window walk,
    /// on planes full of ties and NaNs: rows of 3 windows (one at a time), 8 (one block),
    /// 12 and 13 (a block and an overlapping one), with and without an odd remainder row
    /// and column.
    #[test]
    fn plain_2x2_windows_pick_what_the_general_walk_picks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (h, w) in [(9, 7), (4, 16), (6, 24), (5, 27), (2, 26)] {
            let g = plain_2x2(h, w);
            assert!(g.is_plain_2x2());
            let plane = awkward_plane(&mut rng, h * w);
            let (mut values, mut index) = (vec![0.0; g.oh * g.ow], vec![0.0; g.oh * g.ow]);
            simd(|| g.max_plane_2x2(&plane, &mut values, &mut index));
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let (j, q) = (oy * g.ow + ox, g.arg_max(&plane, oy, ox));
                    assert_eq!(index[j], q as f32, "{h}x{w}, window ({oy}, {ox})");
                    assert_eq!(
                        values[j].to_bits(),
                        plane[q].to_bits(),
                        "{h}x{w}, window ({oy}, {ox})"
                    );
                }
            }
        }
    }

    /// The 2x2 tiled gradient writes what the general scatter writes, NaN gradients
    /// included, for rows of 3, 8, 12 and 13 windows.
    #[test]
    fn tiled_2x2_gradient_matches_the_scatter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (h, w) in [(4, 6), (2, 16), (6, 24), (4, 26)] {
            let g = plain_2x2(h, w);
            assert!(g.tiles_2x2());
            let plane = awkward_plane(&mut rng, h * w);
            let (mut values, mut index) = (vec![0.0; g.oh * g.ow], vec![0.0; g.oh * g.ow]);
            g.max_plane_2x2(&plane, &mut values, &mut index);
            let dy = awkward_plane(&mut rng, g.oh * g.ow);
            let mut tiled = vec![7.0; h * w]; // stale values the kernel must overwrite
            simd(|| g.max_unpool_plane_2x2(&dy, &index, &mut tiled));
            let mut scattered = vec![0.0f32; h * w];
            for (j, &d) in dy.iter().enumerate() {
                scattered[index[j] as usize] += d;
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&tiled), bits(&scattered), "{h}x{w}");
        }
    }
}
