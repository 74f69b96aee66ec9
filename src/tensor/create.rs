//! Constructors: constants, ranges, host data and seeded random values.

use super::{Storage, Tensor};
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use rand::{rngs::StdRng, Rng, SeedableRng};

impl Tensor {
    /// A tensor holding `data` with the given dimensions.
    pub fn from_vec(data: Vec<f32>, dims: &[usize], device: &Device) -> Result<Tensor> {
        let shape = Shape::new(dims)?;
        if shape.numel() != data.len() {
            return Err(Error::shape(
                "from_vec",
                format!("{} values for shape {shape}", shape.numel()),
                format!("{} values", data.len()),
            ));
        }
        match device {
            Device::Cpu => Ok(Tensor::from_cpu(shape, data)),
            Device::Gpu(ctx) => Ok(Tensor::from_gpu(shape, ctx.upload(&data)?, device)),
        }
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32, device: &Device) -> Result<Tensor> {
        Tensor::full(&[], value, device)
    }

    /// The one-element gradient seed 1.0 of `backward()`, shaped `dims`. On a GPU it
    /// shares the device's unit buffer (no dispatch, no upload), so that rules can tell
    /// it from other gradients with [`Tensor::is_unit_seed`].
    pub(crate) fn unit_seed(dims: &[usize], device: &Device) -> Result<Tensor> {
        let shape = Shape::new(dims)?;
        match device {
            Device::Cpu => Tensor::ones(dims, device),
            Device::Gpu(ctx) => Ok(Tensor::from_storage(
                shape,
                Storage::Gpu(ctx.unit()?),
                device.clone(),
            )),
        }
    }

    /// Whether this gradient is known to be exactly one (the seed of `backward()`), so
    /// that a rule can pass its saved gradient on instead of multiplying it by one.
    pub(crate) fn is_unit_seed(&self) -> bool {
        if self.numel() != 1 {
            return false;
        }
        match (&self.0.storage, self.device()) {
            (Storage::Cpu(_), _) => self.cpu_data()[0] == 1.0,
            (Storage::Gpu(buffer), Device::Gpu(ctx)) => ctx.is_unit(buffer),
            (Storage::Gpu(_), Device::Cpu) => false,
        }
    }

    /// A tensor of zeros.
    pub fn zeros(dims: &[usize], device: &Device) -> Result<Tensor> {
        let shape = Shape::new(dims)?;
        match device {
            Device::Cpu => Ok(Tensor::from_cpu(shape.clone(), vec![0.0; shape.numel()])),
            Device::Gpu(ctx) => {
                let buffer = ctx.zeros(shape.numel())?;
                Ok(Tensor::from_gpu(shape, buffer, device))
            }
        }
    }

    /// A tensor of ones.
    pub fn ones(dims: &[usize], device: &Device) -> Result<Tensor> {
        Tensor::full(dims, 1.0, device)
    }

    /// A tensor with every element `value`.
    pub fn full(dims: &[usize], value: f32, device: &Device) -> Result<Tensor> {
        Tensor::generated(Shape::new(dims)?, "fill", value, 0.0, device)
    }

    /// The 1-D tensor `start, start + step, ...` of values below `end` (above, for a
    /// negative step).
    pub fn arange(start: f32, end: f32, step: f32, device: &Device) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("finite bounds and a finite non-zero step, got start {start}, end {end}, step {step}"),
            ));
        }
        let count = ((end - start) / step).ceil().max(0.0) as usize;
        Tensor::generated(Shape::new(&[count])?, "arange", start, step, device)
    }

    /// Values drawn uniformly from `[low, high)` with a seeded generator (the same seed
    /// gives the same values on every device).
    pub fn uniform(
        dims: &[usize],
        low: f32,
        high: f32,
        seed: u64,
        device: &Device,
    ) -> Result<Tensor> {
        if low.is_nan() || high.is_nan() || low >= high || !low.is_finite() || !high.is_finite() {
            return Err(Error::invalid(
                "uniform",
                format!("finite bounds with low < high, got [{low}, {high})"),
            ));
        }
        let shape = Shape::new(dims)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let data = (0..shape.numel())
            .map(|_| rng.random_range(low..high))
            .collect();
        Tensor::from_vec(data, dims, device)
    }

    /// Values drawn from a normal distribution with a seeded generator (Box-Muller; the
    /// same seed gives the same values on every device).
    pub fn normal(
        dims: &[usize],
        mean: f32,
        std: f32,
        seed: u64,
        device: &Device,
    ) -> Result<Tensor> {
        if std.is_nan() || std < 0.0 || !std.is_finite() || !mean.is_finite() {
            return Err(Error::invalid(
                "normal",
                format!("a finite mean and a finite std >= 0, got mean {mean}, std {std}"),
            ));
        }
        let shape = Shape::new(dims)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Vec::with_capacity(shape.numel() + 1);
        while data.len() < shape.numel() {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2: f64 = rng.random::<f64>();
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            data.push(mean + std * (radius * angle.cos()) as f32);
            data.push(mean + std * (radius * angle.sin()) as f32);
        }
        data.truncate(shape.numel());
        Tensor::from_vec(data, dims, device)
    }

    /// A zero tensor shaped like this one, on its device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(self.dims(), self.device())
    }

    /// A tensor of ones shaped like this one, on its device.
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::ones(self.dims(), self.device())
    }

    /// `fill` (value) or `arange` (value + i * step), on the CPU or by a GPU kernel.
    fn generated(
        shape: Shape,
        entry: &'static str,
        value: f32,
        step: f32,
        device: &Device,
    ) -> Result<Tensor> {
        let n = shape.numel();
        match device {
            Device::Cpu => {
                let data = (0..n).map(|i| value + i as f32 * step).collect();
                Ok(Tensor::from_cpu(shape, data))
            }
            Device::Gpu(ctx) => {
                let out = ctx.alloc(n, entry)?;
                ctx.dispatch(
                    &Kernel::new("fill", entry, 0, 1),
                    &[],
                    &[&out],
                    Params::new().u(n).f(value).f(step),
                    ctx.groups_1d(n, 256),
                );
                Ok(Tensor::from_gpu(shape, out, device))
            }
        }
    }
}
