//! Reductions: sum and mean over everything or one axis, max and arg-max over an axis
//! (shaders/reduce.wgsl).

use super::cpu::sum_middle_axis;
use crate::autograd::record;
use crate::device::{Device, GpuBuffer, GpuContext, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Elements one workgroup sums in the first stage of a whole-tensor reduction.
const CHUNK: usize = 16 * 1024;

/// What `reduce_rows` adds up for each element x (its `OP`).
#[derive(Clone, Copy)]
pub(super) enum Summand {
    /// x itself.
    Value,
    /// l1·|x| + l2·x².
    Penalty { l1: f32, l2: f32 },
}

impl Summand {
    /// (`OP` of reduce.wgsl, l1, l2).
    fn code(self) -> (u32, f32, f32) {
        match self {
            Summand::Value => (0, 0.0, 0.0),
            Summand::Penalty { l1, l2 } => (2, l1, l2),
        }
    }
}

/// GPU: sums rows of `len` contiguous elements of `x` (the last possibly shorter, up to
/// `total`), each element taken as `summand`, times `scale`, into a new buffer of `rows`
/// values.
fn gpu_sum_rows(
    ctx: &GpuContext,
    x: &GpuBuffer,
    [rows, len, total]: [usize; 3],
    summand: Summand,
    scale: f32,
) -> Result<GpuBuffer> {
    let (op, l1, l2) = summand.code();
    let out = ctx.alloc(rows, "reduction")?;
    super::reducing::dispatch_reducing(
        ctx,
        [rows, len],
        &Kernel::new("reduce", "reduce_rows", 1, 1).with("OP", op),
        &[x],
        &[&out],
        Params::new()
            .u(rows)
            .u(len)
            .u(total)
            .f(scale)
            .f(l1)
            .f(l2)
            .flops(total),
        super::groups_per_row(ctx, rows),
    );
    Ok(out)
}

/// GPU: the sum of all `n` elements of `x`, each taken as `summand`, times `scale`, as a
/// one-value buffer, plus the one value of `base` when given: one dispatch up to `CHUNK`
/// elements, two beyond.
pub(super) fn gpu_sum_all(
    ctx: &GpuContext,
    x: &GpuBuffer,
    n: usize,
    summand: Summand,
    scale: f32,
    base: Option<&GpuBuffer>,
) -> Result<GpuBuffer> {
    let partial;
    let (source, len, summand) = if n <= CHUNK {
        (x, n, summand)
    } else {
        let rows = n.div_ceil(CHUNK);
        partial = gpu_sum_rows(ctx, x, [rows, CHUNK, n], summand, 1.0)?;
        (&partial, rows, Summand::Value)
    };
    let Some(base) = base else {
        return gpu_sum_rows(ctx, source, [1, len, len], summand, scale);
    };
    let (op, l1, l2) = summand.code();
    let out = ctx.alloc(1, "reduction")?;
    super::reducing::dispatch_reducing(
        ctx,
        [1, len],
        &Kernel::new("reduce", "reduce_plus", 2, 1).with("OP", op),
        &[source, base],
        &[&out],
        Params::new()
            .u(1)
            .u(len)
            .u(len)
            .f(scale)
            .f(l1)
            .f(l2)
            .flops(len),
        [1, 1, 1],
    );
    Ok(out)
}

/// Sum over (outer, len, inner) → (outer, inner), times `scale`.
fn sum_around(
    x: &Tensor,
    outer: usize,
    len: usize,
    inner: usize,
    scale: f32,
    shape: Shape,
) -> Result<Tensor> {
    match x.device() {
        Device::Cpu => {
            let mut out = sum_middle_axis(&x.cpu_data(), [outer, len, inner]);
            if scale != 1.0 {
                out.iter_mut().for_each(|v| *v *= scale);
            }
            Ok(Tensor::from_cpu(shape, out))
        }
        device @ Device::Gpu(ctx) => {
            let buffer = if inner == 1 && outer == 1 {
                gpu_sum_all(ctx, x.gpu_buffer(), len, Summand::Value, scale, None)?
            } else if inner == 1 {
                let rows_len_total = [outer, len, outer * len];
                gpu_sum_rows(ctx, x.gpu_buffer(), rows_len_total, Summand::Value, scale)?
            } else {
                let out = ctx.alloc(outer * inner, "reduction")?;
                ctx.dispatch(
                    &Kernel::new("reduce", "reduce_strided", 1, 1).with("OP", 0),
                    &[x.gpu_buffer()],
                    &[&out],
                    Params::new()
                        .u(outer)
                        .u(len)
                        .u(inner)
                        .f(scale)
                        .flops(outer * len * inner),
                    ctx.groups_1d(outer * inner, super::WORKGROUP),
                );
                out
            };
            Ok(Tensor::from_gpu(shape, buffer, device))
        }
    }
}

impl Tensor {
    /// Sum of all elements (rank 0).
    pub fn sum(&self) -> Result<Tensor> {
        self.reduce_all(1.0, "sum")
    }

    /// Mean of all elements (rank 0).
    pub fn mean(&self) -> Result<Tensor> {
        if self.numel() == 0 {
            return Err(Error::invalid(
                "mean",
                "the mean of an empty tensor is undefined",
            ));
        }
        self.reduce_all(1.0 / self.numel() as f32, "mean")
    }

    fn reduce_all(&self, scale: f32, op: &'static str) -> Result<Tensor> {
        let out = sum_around(self, 1, self.numel(), 1, scale, Shape::default())?;
        let dims = self.dims().to_vec();
        Ok(record(op, out, &[self], move |g| {
            Ok(vec![Some(g.broadcast_scaled(&dims, scale)?)])
        }))
    }

    /// Sum over `axis` (negative counts from the end); `keepdim` keeps it as size 1.
    pub fn sum_axis(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce_axis(axis, keepdim, false)
    }

    /// Mean over `axis`; `keepdim` keeps it as size 1.
    pub fn mean_axis(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce_axis(axis, keepdim, true)
    }

    fn reduce_axis(&self, axis: isize, keepdim: bool, mean: bool) -> Result<Tensor> {
        let op = if mean { "mean_axis" } else { "sum_axis" };
        let axis = self.shape().axis(op, axis)?;
        let (outer, len, inner) = self.shape().around_axis(axis);
        if mean && len == 0 {
            return Err(Error::invalid(
                op,
                "the mean over an empty axis is undefined",
            ));
        }
        let scale = if mean { 1.0 / len as f32 } else { 1.0 };
        let out = sum_around(
            self,
            outer,
            len,
            inner,
            scale,
            self.shape().reduced(axis, keepdim),
        )?;
        let (dims, kept) = (self.dims().to_vec(), self.shape().reduced(axis, true));
        Ok(record(op, out, &[self], move |g| {
            Ok(vec![Some(
                g.reshape(kept.dims())?.broadcast_scaled(&dims, scale)?,
            )])
        }))
    }

    /// Sums a broadcast result back down to `dims` (the backward of broadcasting).
    pub fn sum_to(&self, dims: &[usize]) -> Result<Tensor> {
        let target = Shape::new(dims)?;
        if self.shape() == &target {
            return Ok(self.clone());
        }
        if Shape::broadcast("sum_to", &target, self.shape())? != *self.shape() {
            return Err(Error::shape(
                "sum_to",
                format!("a shape that broadcasts to {}", self.shape()),
                format!("{target}"),
            ));
        }
        let mut t = self.clone();
        while t.rank() > target.rank() {
            t = t.sum_axis(0, false)?;
        }
        for (axis, &d) in target.dims().iter().enumerate() {
            if d == 1 && t.dims()[axis] != 1 {
                t = t.sum_axis(axis as isize, true)?;
            }
        }
        Ok(t)
    }

    /// Maximum over `axis`; the gradient flows to the (first) arg-max.
    pub fn max_axis(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let (values, indices) = self.max_with_indices(axis, keepdim)?;
        let axis = self.shape().axis("max_axis", axis)?;
        let shape = self.shape().clone();
        Ok(record("max_axis", values, &[self], move |g| {
            Ok(vec![Some(max_backward(g, &indices, &shape, axis)?)])
        }))
    }

    /// Index of the maximum along `axis`, as f32 values (exact up to 2^24). Not
    /// differentiable.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        Ok(self.max_with_indices(axis, keepdim)?.1)
    }

    fn max_with_indices(&self, axis: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let axis = self.shape().axis("max_axis", axis)?;
        let (outer, len, inner) = self.shape().around_axis(axis);
        if len == 0 {
            return Err(Error::invalid(
                "max_axis",
                "the maximum over an empty axis is undefined",
            ));
        }
        let shape = self.shape().reduced(axis, keepdim);
        match self.device() {
            Device::Cpu => {
                let data = self.cpu_data();
                let mut values = Vec::with_capacity(outer * inner);
                let mut indices = Vec::with_capacity(outer * inner);
                for o in 0..outer {
                    for k in 0..inner {
                        let at = |j: usize| data[(o * len + j) * inner + k];
                        let (mut best, mut best_j) = (at(0), 0);
                        for j in 1..len {
                            let v = at(j);
                            if v > best || (v.is_nan() && !best.is_nan()) {
                                best = v;
                                best_j = j;
                            }
                        }
                        values.push(best);
                        indices.push(best_j as f32);
                    }
                }
                Ok((
                    Tensor::from_cpu(shape.clone(), values),
                    Tensor::from_cpu(shape, indices),
                ))
            }
            device @ Device::Gpu(ctx) => {
                let values = ctx.alloc(outer * inner, "max values")?;
                let indices = ctx.alloc(outer * inner, "max indices")?;
                ctx.dispatch(
                    &Kernel::new("reduce", "max_axis", 1, 2),
                    &[self.gpu_buffer()],
                    &[&values, &indices],
                    Params::new()
                        .u(outer)
                        .u(len)
                        .u(inner)
                        .flops(outer * len * inner),
                    ctx.groups_1d(outer * inner, super::WORKGROUP),
                );
                Ok((
                    Tensor::from_gpu(shape.clone(), values, device),
                    Tensor::from_gpu(shape, indices, device),
                ))
            }
        }
    }
}

/// Routes `g` (shaped like the max output) to the arg-max positions of an input of `shape`.
fn max_backward(g: &Tensor, indices: &Tensor, shape: &Shape, axis: usize) -> Result<Tensor> {
    let (outer, len, inner) = shape.around_axis(axis);
    let n = shape.numel();
    match g.device() {
        Device::Cpu => {
            let (gs, idx) = (g.cpu_data(), indices.cpu_data());
            let data = (0..n)
                .map(|i| {
                    let o = (i / (inner * len)) * inner + i % inner;
                    if idx[o] as usize == (i / inner) % len {
                        gs[o]
                    } else {
                        0.0
                    }
                })
                .collect();
            Ok(Tensor::from_cpu(shape.clone(), data))
        }
        device @ Device::Gpu(ctx) => {
            let out = ctx.alloc(n, "max gradient")?;
            ctx.dispatch(
                &Kernel::new("reduce", "max_backward", 2, 1),
                &[g.gpu_buffer(), indices.gpu_buffer()],
                &[&out],
                Params::new().u(outer).u(len).u(inner),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(shape.clone(), out, device))
        }
    }
}
