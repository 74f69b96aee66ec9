//! 2-D convolution in NCHW with stride, padding and dilation: implicit GEMM on the GPU
//! (shaders/conv2d.wgsl), Winograd or im2col + SGEMM on the CPU (conv_cpu.rs); gradients
//! for input, weight and bias.

use super::unary::Epilogue;
use crate::autograd::{record, will_record};
use crate::device::{Autotune, Device, GpuBuffer, GpuContext, Kernel, Params, ShapeKey};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};

/// Stride, zero padding and dilation of a convolution or pooling window, as
/// (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between windows.
    pub stride: [usize; 2],
    /// Zeros added on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps (1 = dense).
    pub dilation: [usize; 2],
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Conv2dOptions {
    /// 'valid' convolution with the given stride: no padding.
    pub fn valid(stride: [usize; 2]) -> Self {
        Conv2dOptions {
            stride,
            ..Conv2dOptions::default()
        }
    }

    /// 'same' convolution (stride 1): the output keeps the input's height and width. Needs
    /// odd kernel sizes so that the padding is symmetric.
    pub fn same(kernel: [usize; 2], dilation: [usize; 2]) -> Result<Self> {
        if kernel.iter().any(|k| k % 2 == 0) {
            return Err(Error::invalid("conv2d", format!("'same' padding needs odd kernel sizes, got {kernel:?}; give the padding explicitly")));
        }
        Ok(Conv2dOptions {
            stride: [1, 1],
            padding: [
                dilation[0] * (kernel[0] - 1) / 2,
                dilation[1] * (kernel[1] - 1) / 2,
            ],
            dilation,
        })
    }
}

/// Every size of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) opts: Conv2dOptions,
}

impl Geometry {
    pub(super) fn new(
        x: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: Conv2dOptions,
    ) -> Result<Geometry> {
        let &[n, c, h, w] = x.dims() else {
            return Err(Error::shape(
                "conv2d",
                "an input of shape (N, C, H, W)",
                format!("{}", x.shape()),
            ));
        };
        let &[o, wc, kh, kw] = weight.dims() else {
            return Err(Error::shape(
                "conv2d",
                "a weight of shape (O, C, KH, KW)",
                format!("{}", weight.shape()),
            ));
        };
        if wc != c {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "a weight with {c} input channels, as the input {}",
                    x.shape()
                ),
                format!("{}", weight.shape()),
            ));
        }
        if let Some(b) = bias {
            if b.dims() != [o] {
                return Err(Error::shape(
                    "conv2d",
                    format!("a bias of shape [{o}]"),
                    format!("{}", b.shape()),
                ));
            }
        }
        if opts.stride.contains(&0) || opts.dilation.contains(&0) || kh == 0 || kw == 0 {
            return Err(Error::invalid("conv2d", format!("stride, dilation and kernel sizes must be >= 1, got {opts:?}, kernel {kh}x{kw}")));
        }
        let out = |size: usize, k: usize, axis: usize| -> Result<usize> {
            let span = opts.dilation[axis] * (k - 1) + 1;
            let padded = size + 2 * opts.padding[axis];
            if padded < span {
                return Err(Error::shape(
                    "conv2d",
                    format!(
                        "an input of at least {span} (kernel span) along axis {} after padding",
                        axis + 2
                    ),
                    format!("{padded}"),
                ));
            }
            Ok((padded - span) / opts.stride[axis] + 1)
        };
        Ok(Geometry {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            oh: out(h, kh, 0)?,
            ow: out(w, kw, 1)?,
            opts,
        })
    }

    pub(super) fn taps(&self) -> usize {
        self.c * self.kh * self.kw
    }

    pub(super) fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// `kernel` specialised to this layer: conv2d.wgsl takes everything but the batch as
    /// override constants, so that its gathers divide by constants.
    fn specialize(&self, kernel: Kernel) -> Kernel {
        let o = &self.opts;
        [
            ("IN_C", self.c),
            ("IN_H", self.h),
            ("IN_W", self.w),
            ("OUT_C", self.o),
            ("K_H", self.kh),
            ("K_W", self.kw),
            ("OUT_H", self.oh),
            ("OUT_W", self.ow),
            ("STRIDE_H", o.stride[0]),
            ("STRIDE_W", o.stride[1]),
            ("PAD_H", o.padding[0]),
            ("PAD_W", o.padding[1]),
            ("DIL_H", o.dilation[0]),
            ("DIL_W", o.dilation[1]),
        ]
        .into_iter()
        .fold(kernel, |k, (name, value)| k.with(name, value as u32))
    }
}

/// One implicit-GEMM dispatch of conv2d.wgsl in `mode` (0 forward, 1 input gradient,
/// 2 weight gradient); see the shader for what `a`, `b` and `extra` are in each. The
/// forward applies `epilogue` after the bias; the gradients read dy times its
/// derivative (`extra` then holds what the forward saved: its output, or its
/// pre-activation). With `second`, the same dispatch also gives the pre-activation in
/// mode 0 and the bias gradient in mode 2. A product whose K is split (`k_splits`) takes
/// a second dispatch, `sum_splits`, which adds the partial slabs and finishes them (the
/// forward's bias, activation and pre-activation).
#[allow(clippy::too_many_arguments)] // the shader's operands, one by one
fn gpu_conv(
    g: &Geometry,
    mode: u32,
    a: &Tensor,
    b: &Tensor,
    extra: &Tensor,
    out_shape: Shape,
    epilogue: Option<Epilogue>,
    second: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let device = a.device().clone();
    let ctx = device.gpu_context().expect("called for GPU tensors");
    let (rows, cols, depth, batches) = match mode {
        0 => (g.o, g.positions(), g.taps(), g.n),
        1 => (g.c, g.h * g.w, g.o * g.kh * g.kw, g.n),
        _ => (g.o, g.taps(), g.n * g.positions(), 1),
    };
    // A K longer than one workgroup sums, or a weight gradient on too few tiles, splits
    // over workgroup layers (split z / images, image z % images).
    let occupancy = if mode == 2 { ctx.occupancy() } else { 0 };
    let (k_split, splits) = k_splits(rows, cols, depth, occupancy);
    let layers = batches * splits;
    let max_groups = ctx.limits().max_compute_workgroups_per_dimension as usize;
    if layers > max_groups || rows.div_ceil(64) > max_groups || cols.div_ceil(64) > max_groups {
        return Err(Error::invalid(
            "conv2d",
            format!("{g:?} needs more than {max_groups} workgroups along one axis on this GPU"),
        ));
    }
    let (family, second_shape) = match mode {
        0 if second => ("conv2d_pre", Some(out_shape.clone())),
        2 if second => ("conv2d_row_sums", Some(Shape::new(&[g.o])?)),
        _ => ("conv2d", None),
    };
    // Split, the first pass writes raw partial sums, one slab per split (the bias
    // gradient's too), and the forward's epilogue waits for the sum pass.
    let forward_split = mode == 0 && splits > 1;
    let first_family = if forward_split { "conv2d" } else { family };
    let alloc_outputs = |what: &str| -> Result<super::Outputs> {
        let out = ctx.alloc(out_shape.numel() * splits, what)?;
        let second = second_shape
            .as_ref()
            .filter(|_| !forward_split)
            .map(|s| ctx.alloc(s.numel() * splits, "conv2d second output"))
            .transpose()?;
        Ok((out, second))
    };
    let params = Params::new()
        .u(g.n)
        .f(epilogue.map_or(0.0, |e| e.alpha()))
        .u(k_split)
        .u(splits);
    let kernel = |family, entry, writes: usize| {
        g.specialize(
            Kernel::new(family, entry, 3, writes as u8)
                .with("MODE", mode)
                .with("ACT", Epilogue::code(epilogue)),
        )
    };
    let inputs = [a.gpu_buffer(), b.gpu_buffer(), extra.gpu_buffer()];
    let flops = 2 * rows * cols * depth * batches;
    let first_pass = |tile: ConvTile, outputs: &[&GpuBuffer]| {
        let groups = [
            cols.div_ceil(tile.cols) as u32,
            rows.div_ceil(tile.rows) as u32,
            layers as u32,
        ];
        let mut kernel = kernel(first_family, tile.entry, outputs.len());
        if tile.entry == "conv2d_large" {
            kernel = kernel.with("LARGE_BM", tile.rows as u32);
        }
        (kernel, params.flops(flops), groups)
    };
    // The batch counts only as its power of two: a last, smaller batch (60,000 images
    // leave 96 in batches of 128) or an evaluation's batch of 500 or 512 shares the
    // training batch's or its neighbour's choice instead of being tuned afresh.
    let key = ShapeKey {
        op: "conv2d",
        numbers: [
            mode as usize,
            rows,
            cols,
            depth,
            batches.next_power_of_two(),
            splits,
            g.kh * 16 + g.kw,
            second as usize,
        ],
    };
    let mut scratch = None;
    let tile = choose_tile(ctx, key, [rows, cols, layers], flops, |tile, dispatches| {
        let alloc = || alloc_outputs("autotuning scratch");
        let pass = |outputs: &[&GpuBuffer]| first_pass(tile, outputs);
        super::time_into_scratch(ctx, &mut scratch, alloc, &inputs, pass, dispatches)
    });
    drop(scratch);
    let (out, second_buffer) = alloc_outputs("conv2d result")?;
    let mut outputs = vec![&out];
    outputs.extend(second_buffer.as_ref());
    let (first_kernel, words, groups) = first_pass(tile, &outputs);
    ctx.dispatch(&first_kernel, &inputs, &outputs, words, groups);
    let (out, second_buffer) = if splits == 1 {
        (out, second_buffer)
    } else {
        let total = ctx.alloc(out_shape.numel(), "conv2d result")?;
        let second_total = second_shape
            .as_ref()
            .map(|s| ctx.alloc(s.numel(), "conv2d second output"))
            .transpose()?;
        let partial_second = second_buffer.as_ref().unwrap_or(&out);
        let mut totals = vec![&total];
        totals.extend(second_total.as_ref());
        let values = out_shape.numel() + second_shape.as_ref().map_or(0, Shape::numel);
        ctx.dispatch(
            &kernel(family, "sum_splits", totals.len()),
            &[&out, partial_second, extra.gpu_buffer()],
            &totals,
            params.flops(splits * values),
            ctx.groups_1d(out_shape.numel().max(g.o), super::WORKGROUP),
        );
        (total, second_total)
    };
    let second = second_shape
        .zip(second_buffer)
        .map(|(s, buffer)| Tensor::from_gpu(s, buffer, &device));
    Ok((Tensor::from_gpu(out_shape, out, &device), second))
}

/// A convolution's kernel variant: its name (as the tuner, its file and the tests know
/// it), its entry point, and its tile of the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ConvTile {
    name: &'static str,
    entry: &'static str,
    rows: usize,
    cols: usize,
}

const fn tile(name: &'static str, entry: &'static str, rows: usize, cols: usize) -> ConvTile {
    ConvTile {
        name,
        entry,
        rows,
        cols,
    }
}

/// The 64x64-tile kernel (4x4 per thread), the 128x128- and 64x128-tile ones (8x8 and 4x8
/// per thread, read as vec4s: shaders/gemm_large.wgsl) and the 32x128-tile one (2x8).
const CONV_TILES: [ConvTile; 4] = [
    tile("conv2d", "conv2d", 64, 64),
    tile("conv2d_large", "conv2d_large", 128, 128),
    tile("conv2d_large_64", "conv2d_large", 64, 128),
    tile("conv2d_wide", "conv2d_wide", 32, 128),
];

/// The fixed rule's tile for a product of `rows` rows: the 32-row one where a 64-row
/// tile would be half empty or more, else the 64x64 one.
fn rule_tile(rows: usize) -> ConvTile {
    if rows <= 32 {
        CONV_TILES[3]
    } else {
        CONV_TILES[0]
    }
}

/// The tile a convolution's product (`rows` x `cols`, `layers` times; `flops` of work)
/// takes on `ctx`:
/// the tuner's choice between [`CONV_TILES`], timed by `run(tile, dispatches)` the first
/// time `key` meets the device, else [`rule_tile`]'s. Where a heavy product must launch
/// `GpuContext::occupancy` workgroups, a tile that launches fewer is not a candidate (the
/// rule's always is).
fn choose_tile(
    ctx: &GpuContext,
    key: ShapeKey,
    [rows, cols, layers]: [usize; 3],
    flops: usize,
    mut run: impl FnMut(ConvTile, u32) -> Option<std::time::Duration>,
) -> ConvTile {
    let forced = ctx.is_forced("conv2d");
    let rule = rule_tile(rows);
    if ctx.autotune() == Autotune::Off && !forced {
        return rule;
    }
    let fills = |tile: &ConvTile| {
        let workgroups = rows.div_ceil(tile.rows) * cols.div_ceil(tile.cols) * layers;
        flops <= super::OCCUPANCY_FLOPS || workgroups >= ctx.occupancy()
    };
    let candidates: Vec<ConvTile> = CONV_TILES
        .into_iter()
        .filter(|t| t == &rule || fills(t))
        .collect();
    let names: Vec<String> = candidates
        .iter()
        .map(|tile| tile.name.to_string())
        .collect();
    let fallback = candidates.iter().position(|t| t == &rule).unwrap_or(0);
    let index = ctx.choose_variant(key, &names, fallback, |i, dispatches| {
        run(candidates[i], dispatches)
    });
    candidates[index]
}

/// (k per split, splits) of a convolution's product (rows x cols, K = `depth`): split
/// where K exceeds `MAX_K_PER_WORKGROUP`, or where the product does more than
/// `OCCUPANCY_FLOPS` on fewer than `occupancy` 64x64 tiles, into enough splits that
/// tiles times splits reach that many workgroups.
fn k_splits(rows: usize, cols: usize, depth: usize, occupancy: usize) -> (usize, usize) {
    let tiles = rows.div_ceil(64) * cols.div_ceil(64);
    let underfilled = 2 * rows * cols * depth > super::OCCUPANCY_FLOPS && tiles < occupancy;
    let for_occupancy = if underfilled {
        occupancy.div_ceil(tiles)
    } else {
        1
    };
    super::split_k(depth, for_occupancy)
}

/// y = epilogue(conv(x, w) + bias), with the pre-activation too when `keep_input`.
fn forward(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    g: &Geometry,
    epilogue: Option<Epilogue>,
    keep_input: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let shape = Shape::new(&[g.n, g.o, g.oh, g.ow])?;
    match x.device() {
        Device::Cpu => {
            let (x, w, b) = (x.cpu_data(), weight.cpu_data(), bias.cpu_data());
            if !keep_input {
                let y = g.cpu_forward(&x, &w, &b, epilogue);
                return Ok((Tensor::from_cpu(shape, y), None));
            }
            // The pre-activation first, then the activation over a copy of it.
            let z = g.cpu_forward(&x, &w, &b, None);
            let mut y = host_pool::uninit(z.len());
            y.copy_from_slice(&z);
            if let Some(e) = epilogue {
                super::cpu::par_chunks(&mut y, super::cpu::GRAIN, |_, ys| e.apply_in_place(ys));
            }
            let z = Tensor::from_cpu(shape.clone(), z);
            Ok((Tensor::from_cpu(shape, y), Some(z)))
        }
        Device::Gpu(_) => gpu_conv(g, 0, weight, x, bias, shape, epilogue, keep_input),
    }
}

/// The input, weight and bias gradients from dy, each where `wanted`, for a convolution
/// whose output went through `epilogue`, which saved `saved` (the output, or the
/// pre-activation): dz = dy ⊙ act'(z) is made on the CPU as Winograd reads dy (once up
/// front for im2col), and read inside each product on a GPU (which also takes the bias
/// gradient from the weight-gradient dispatch).
fn conv_grads(
    dy: &Tensor,
    saved: &Tensor,
    epilogue: Option<Epilogue>,
    x: &Tensor,
    weight: &Tensor,
    g: &Geometry,
    wanted: [bool; 3],
) -> Result<[Option<Tensor>; 3]> {
    let x_shape = Shape::new(&[g.n, g.c, g.h, g.w])?;
    let w_shape = Shape::new(&[g.o, g.c, g.kh, g.kw])?;
    match dy.device() {
        Device::Cpu => {
            let saved_data = epilogue.map(|_| saved.cpu_data());
            let gate = epilogue.zip(saved_data.as_deref().map(|s| &s[..]));
            let [dx, dw, db] = g.cpu_backward(
                &x.cpu_data(),
                &weight.cpu_data(),
                &dy.cpu_data(),
                gate,
                wanted,
            );
            Ok([
                dx.map(|dx| Tensor::from_cpu(x_shape, dx)),
                dw.map(|dw| Tensor::from_cpu(w_shape, dw)),
                db.map(|db| Shape::new(&[g.o]).map(|shape| Tensor::from_cpu(shape, db)))
                    .transpose()?,
            ])
        }
        Device::Gpu(_) => {
            // Without an activation the gate binding holds dy itself (never read).
            let gate = if epilogue.is_some() { saved } else { dy };
            let dx = wanted[0]
                .then(|| gpu_conv(g, 1, weight, dy, gate, x_shape, epilogue, false))
                .transpose()?
                .map(|(dx, _)| dx);
            let (dw, db) = if wanted[1] {
                let (dw, db) = gpu_conv(g, 2, dy, x, gate, w_shape, epilogue, wanted[2])?;
                (Some(dw), db)
            } else {
                let dz = match epilogue {
                    Some(e) if wanted[2] => e.backward(saved, dy)?,
                    _ => dy.clone(),
                };
                let bias_grad = |dz: &Tensor| {
                    dz.reshape(&[g.n, g.o, g.positions()])?
                        .sum_axis(2, false)?
                        .sum_axis(0, false)
                };
                (None, wanted[2].then(|| bias_grad(&dz)).transpose()?)
            };
            Ok([dx, dw, db])
        }
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation, as in every framework) of this (N, C, H, W)
    /// input with a (O, C, KH, KW) weight and an optional (O) bias, giving (N, O, OH, OW).
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: Conv2dOptions,
    ) -> Result<Tensor> {
        self.conv2d_with(weight, bias, options, None)
    }

    /// [`Tensor::conv2d`] followed by `epilogue`, applied in the same kernel (one GPU
    /// dispatch; on the CPU, on each image's output while it is in cache). Backward turns
    /// dy into the pre-activation gradient from the output alone (from the
    /// pre-activation, which the kernel then also stores, for SiLU and GELU).
    pub fn conv2d_with(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        options: Conv2dOptions,
        epilogue: Option<Epilogue>,
    ) -> Result<Tensor> {
        let mut operands = vec![self, weight];
        operands.extend(bias);
        Tensor::common_device("conv2d", &operands)?;
        let g = Geometry::new(self, weight, bias, options)?;
        let zero_bias;
        let bias_values = match bias {
            Some(b) => b,
            None => {
                zero_bias = Tensor::zeros(&[g.o], self.device())?;
                &zero_bias
            }
        };
        let keep_input = epilogue.is_some_and(|e| e.saves_input()) && will_record(&operands);
        let (out, z) = forward(self, weight, bias_values, &g, epilogue, keep_input)?;
        let (x, w) = (self.detach(), weight.detach());
        let saved = z.unwrap_or_else(|| out.clone());
        let needs = [
            self.requires_grad(),
            weight.requires_grad(),
            bias.is_some_and(Tensor::requires_grad),
        ];
        Ok(record("conv2d", out, &operands, move |dy| {
            Ok(conv_grads(dy, &saved, epilogue, &x, &w, &g, needs)?.into())
        }))
    }
}
