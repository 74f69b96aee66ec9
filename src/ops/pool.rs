//! 2-D max and average pooling in NCHW (shaders/pool.wgsl) with their CPU twins. Max
//! pooling routes its gradient to the arg-max of each window; average pooling spreads it
//! over the window's taps inside the image (padding is not counted, as in Keras).

use super::cpu::par_chunks;
use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};
use rayon::prelude::*;

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
    /// `arg_max` picks them.
    fn max_plane_2x2(&self, src: &[f32], values: &mut [f32], index: &mut [f32]) {
        let w = self.w;
        for (oy, (values, index)) in values
            .chunks_exact_mut(self.ow)
            .zip(index.chunks_exact_mut(self.ow))
            .enumerate()
        {
            let row = 2 * oy * w;
            let (top, bottom) = (&src[row..row + w], &src[row + w..row + 2 * w]);
            for (ox, (value, slot)) in values.iter_mut().zip(index.iter_mut()).enumerate() {
                let x = 2 * ox;
                let mut best = (top[x], row + x);
                for candidate in [
                    (top[x + 1], row + x + 1),
                    (bottom[x], row + w + x),
                    (bottom[x + 1], row + w + x + 1),
                ] {
                    best = if beats(candidate.0, best.0) {
                        candidate
                    } else {
                        best
                    };
                }
                *value = best.0;
                *slot = best.1 as f32;
            }
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

/// Whether `v` replaces `best` as a window's maximum: larger, or the first NaN. Branch-free,
/// as the comparisons are unpredictable on real data.
#[inline(always)]
fn beats(v: f32, best: f32) -> bool {
    v > best || (v.is_nan() && !best.is_nan())
}

/// CPU forward: (output, arg-max index in the plane per output; empty for average), one
/// plane per task.
fn cpu_forward(x: &[f32], g: &Geometry, reduction: Reduction) -> (Vec<f32>, Vec<f32>) {
    let (plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut out = host_pool::uninit(g.planes() * out_plane);
    let image = |p: usize| &x[p * plane..(p + 1) * plane];
    match reduction {
        Reduction::Max => {
            let mut index = host_pool::uninit(out.len());
            let run = |p: usize, (values, plane_index): (&mut [f32], &mut [f32])| {
                let src = image(p);
                if g.is_plain_2x2() {
                    return g.max_plane_2x2(src, values, plane_index);
                }
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let q = g.arg_max(src, oy, ox);
                        values[oy * g.ow + ox] = src[q];
                        plane_index[oy * g.ow + ox] = q as f32;
                    }
                }
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
            });
            (out, Vec::new())
        }
    }
}

/// CPU backward: scatters dy onto the winning tap (max) or the window's taps (average),
/// one plane per task.
fn cpu_backward(dy: &[f32], index: &[f32], g: &Geometry, reduction: Reduction) -> Vec<f32> {
    let (plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut dx = host_pool::uninit(g.planes() * plane); // each plane is cleared first
    par_chunks(&mut dx, plane, |p, grad| {
        // The plane may hold recycled values. Clearing it also writes fresh pages before
        // any `+=` reads them, which spares them a copy-on-write fault on the zero page.
        grad.fill(0.0);
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let j = p * out_plane + oy * g.ow + ox;
                match reduction {
                    Reduction::Max => grad[index[j] as usize] += dy[j],
                    Reduction::Average => {
                        let (y0, y1, x0, x1) = g.window(oy, ox);
                        let share = dy[j] / ((y1 - y0) * (x1 - x0)) as f32;
                        for y in y0..y1 {
                            grad[y * g.w + x0..y * g.w + x1]
                                .iter_mut()
                                .for_each(|v| *v += share);
                        }
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
            let (out, index) = cpu_forward(&x.cpu_data(), g, reduction);
            let index =
                (reduction == Reduction::Max).then(|| Tensor::from_cpu(shape.clone(), index));
            let out = Tensor::from_cpu(shape, out);
            let out = match dropout {
                Some((p, seed)) => super::random::apply_dropout(&out, p, seed)?,
                None => out,
            };
            Ok((out, index))
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
            let dropped;
            let dy = match dropout {
                Some((p, seed)) => {
                    dropped = super::random::apply_dropout(dy, p, seed)?;
                    &dropped
                }
                None => dy,
            };
            let dx = cpu_backward(&dy.cpu_data(), &index.cpu_data(), g, reduction);
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

    /// The 2x2 fast path picks the same values and arg-maxes as the general window walk,
    /// on planes full of ties and NaNs and with an odd remainder row and column.
    #[test]
    fn plain_2x2_windows_pick_what_the_general_walk_picks() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let x = Tensor::zeros(&[2, 3, 9, 7], &crate::Device::Cpu).unwrap();
        let g = Geometry::new("max_pool2d", &x, Pool2dOptions::new([2, 2])).unwrap();
        assert!(g.is_plain_2x2());
        let plane: Vec<f32> = (0..g.h * g.w)
            .map(|_| match rng.random_range(0..6) {
                0 => f32::NAN,
                1 => -f32::INFINITY,
                v => v as f32, // few distinct values: many ties
            })
            .collect();
        let (mut values, mut index) = (vec![0.0; g.oh * g.ow], vec![0.0; g.oh * g.ow]);
        g.max_plane_2x2(&plane, &mut values, &mut index);
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (j, q) = (oy * g.ow + ox, g.arg_max(&plane, oy, ox));
                assert_eq!(index[j], q as f32, "window ({oy}, {ox})");
                assert_eq!(
                    values[j].to_bits(),
                    plane[q].to_bits(),
                    "window ({oy}, {ox})"
                );
            }
        }
    }
}
