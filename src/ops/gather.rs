//! Row gathering for batches: rows of a dataset in the order of an index tensor
//! (shaders/gather.wgsl). Data movement only, not differentiable.

use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{ByteStorage, ByteTensor, Tensor};

/// Checks the slice [start, start + count) of `order` and returns the output shape.
fn batch_shape(
    op: &'static str,
    order: &Tensor,
    start: usize,
    count: usize,
    row_dims: &[usize],
) -> Result<Shape> {
    if order.rank() != 1 || start + count > order.numel() {
        return Err(Error::shape(
            op,
            format!("a 1-D index tensor with at least {} entries", start + count),
            format!("{}", order.shape()),
        ));
    }
    let mut dims = vec![count];
    dims.extend_from_slice(row_dims);
    Shape::new(&dims)
}

/// The CPU twin: out[i] = scale · value(src[row(order[i / len]) · len + i % len]),
/// `src` holding at least `rows` rows of `row_len` values.
fn gather_cpu<T: Copy>(
    order: &[f32],
    row_len: usize,
    rows: usize,
    src: &[T],
    scale: f32,
    value: impl Fn(T) -> f32,
) -> Result<Vec<f32>> {
    let mut out = crate::tensor::host_pool::uninit(order.len() * row_len); // every row is set
    for (i, &r) in order.iter().enumerate() {
        let row = r as usize;
        if r < 0.0 || row >= rows || r.fract() != 0.0 {
            return Err(Error::invalid(
                "gather_rows",
                format!("row index {r} is not an integer in [0, {rows})"),
            ));
        }
        let out_row = &mut out[i * row_len..(i + 1) * row_len];
        let src_row = &src[row * row_len..(row + 1) * row_len];
        // Whole rows as slices, so that the loop has no bounds checks and vectorises.
        super::cpu::simd(|| {
            for (o, &v) in out_row.iter_mut().zip(src_row) {
                *o = scale * value(v);
            }
        });
    }
    Ok(out)
}

/// The checked layout of one gather: the output shape, values per row, source rows.
struct Gathered {
    shape: Shape,
    row_len: usize,
    rows: usize,
}

/// The checks of gathering rows of the (N, ...) tensor `t`.
fn f32_rows(t: &Tensor, order: &Tensor, start: usize, count: usize) -> Result<Gathered> {
    Tensor::common_device("gather_rows", &[t, order])?;
    let Some((&rows, row_dims)) = t.dims().split_first() else {
        return Err(Error::shape(
            "gather_rows",
            "a tensor of rank >= 1",
            "a scalar",
        ));
    };
    Ok(Gathered {
        shape: batch_shape("gather_rows", order, start, count, row_dims)?,
        row_len: row_dims.iter().product(),
        rows,
    })
}

/// The checks of gathering rows of `row_dims` values from `bytes`.
fn u8_rows(
    bytes: &ByteTensor,
    row_dims: &[usize],
    order: &Tensor,
    start: usize,
    count: usize,
) -> Result<Gathered> {
    if !bytes.device().same_as(order.device()) {
        return Err(Error::DeviceMismatch {
            op: "gather_rows",
            expected: bytes.device().to_string(),
            got: order.device().to_string(),
        });
    }
    let row_len: usize = row_dims.iter().product();
    if row_len == 0 || !bytes.len().is_multiple_of(row_len) {
        return Err(Error::shape(
            "gather_rows",
            format!("rows that divide the {} bytes", bytes.len()),
            format!("{row_dims:?}"),
        ));
    }
    Ok(Gathered {
        shape: batch_shape("gather_rows", order, start, count, row_dims)?,
        row_len,
        rows: bytes.len() / row_len,
    })
}

/// Where a batch's samples come from.
pub(crate) enum SampleRows<'a> {
    /// Rows of an (N, ...) f32 tensor.
    F32(&'a Tensor),
    /// Rows of `row_dims` bytes, scaled to f32.
    U8 {
        bytes: &'a ByteTensor,
        row_dims: &'a [usize],
        scale: f32,
    },
}

impl SampleRows<'_> {
    /// Rows `order[start..start + count]`, as `gather_rows` gives them.
    fn gather(&self, order: &Tensor, start: usize, count: usize) -> Result<Tensor> {
        match *self {
            SampleRows::F32(t) => t.gather_rows(order, start, count),
            SampleRows::U8 {
                bytes,
                row_dims,
                scale,
            } => bytes.gather_rows(row_dims, order, start, count, scale),
        }
    }
}

/// A training batch: samples and targets at positions [start, start + count) of `order`.
/// On a GPU both come from one dispatch.
pub(crate) fn gather_batch(
    samples: SampleRows<'_>,
    targets: &Tensor,
    order: &Tensor,
    start: usize,
    count: usize,
) -> Result<(Tensor, Tensor)> {
    let Device::Gpu(ctx) = order.device() else {
        let x = samples.gather(order, start, count)?;
        return Ok((x, targets.gather_rows(order, start, count)?));
    };
    let (source, sample, entry, scale) = match samples {
        SampleRows::F32(t) => (
            t.gpu_buffer(),
            f32_rows(t, order, start, count)?,
            "batch_f32",
            1.0,
        ),
        SampleRows::U8 {
            bytes,
            row_dims,
            scale,
        } => {
            let sample = u8_rows(bytes, row_dims, order, start, count)?;
            let ByteStorage::Gpu(buffer) = &bytes.storage else {
                unreachable!("bytes on a GPU device are in a GPU buffer")
            };
            (&**buffer, sample, "batch_u8", scale)
        }
    };
    let target = f32_rows(targets, order, start, count)?;
    let x = ctx.alloc(count * sample.row_len, "batch")?;
    let y = ctx.alloc(count * target.row_len, "batch targets")?;
    let threads = count * (sample.row_len + target.row_len);
    ctx.dispatch(
        &Kernel::new("gather", entry, 3, 2),
        &[source, order.gpu_buffer(), targets.gpu_buffer()],
        &[&x, &y],
        Params::new()
            .u(count)
            .u(sample.row_len)
            .u(start)
            .f(scale)
            .u(target.row_len),
        ctx.groups_1d(threads, super::WORKGROUP),
    );
    let device = order.device();
    Ok((
        Tensor::from_gpu(sample.shape, x, device),
        Tensor::from_gpu(target.shape, y, device),
    ))
}

impl Tensor {
    /// Rows `order[start..start + count]` of this (N, ...) tensor, as a (count, ...) tensor.
    pub fn gather_rows(&self, order: &Tensor, start: usize, count: usize) -> Result<Tensor> {
        let Gathered {
            shape,
            row_len,
            rows,
        } = f32_rows(self, order, start, count)?;
        match self.device() {
            Device::Cpu => {
                let src = self.cpu_data();
                let data = gather_cpu(
                    &order.cpu_data()[start..start + count],
                    row_len,
                    rows,
                    &src,
                    1.0,
                    |v| v,
                )?;
                Ok(Tensor::from_cpu(shape, data))
            }
            device @ Device::Gpu(ctx) => {
                let out = ctx.alloc(count * row_len, "batch")?;
                ctx.dispatch(
                    &Kernel::new("gather", "gather_f32", 2, 1),
                    &[self.gpu_buffer(), order.gpu_buffer()],
                    &[&out],
                    Params::new().u(count).u(row_len).u(start).f(1.0),
                    ctx.groups_1d(count * row_len, super::WORKGROUP),
                );
                Ok(Tensor::from_gpu(shape, out, device))
            }
        }
    }
}

impl ByteTensor {
    /// Rows `order[start..start + count]` of these bytes seen as rows of `row_dims`
    /// values, as f32 times `scale` (1/255 turns pixels into [0, 1]).
    pub fn gather_rows(
        &self,
        row_dims: &[usize],
        order: &Tensor,
        start: usize,
        count: usize,
        scale: f32,
    ) -> Result<Tensor> {
        let Gathered {
            shape,
            row_len,
            rows,
        } = u8_rows(self, row_dims, order, start, count)?;
        match (&self.storage, self.device()) {
            (ByteStorage::Cpu(bytes), _) => {
                let data = gather_cpu(
                    &order.cpu_data()[start..start + count],
                    row_len,
                    rows,
                    bytes,
                    scale,
                    f32::from,
                )?;
                Ok(Tensor::from_cpu(shape, data))
            }
            (ByteStorage::Gpu(buffer), device @ Device::Gpu(ctx)) => {
                let out = ctx.alloc(count * row_len, "batch")?;
                ctx.dispatch(
                    &Kernel::new("gather", "gather_u8", 2, 1),
                    &[buffer, order.gpu_buffer()],
                    &[&out],
                    Params::new().u(count).u(row_len).u(start).f(scale),
                    ctx.groups_1d(count * row_len, super::WORKGROUP),
                );
                Ok(Tensor::from_gpu(shape, out, device))
            }
            (ByteStorage::Gpu(_), Device::Cpu) => {
                unreachable!("GPU bytes always carry a GPU device")
            }
        }
    }
}
