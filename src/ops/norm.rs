//! Batch normalization over axis 1 of (N, C), (N, C, L) or (N, C, H, W) tensors
//! (shaders/batch_norm.wgsl), with batch statistics (training) or given statistics
//! (evaluation), and gradients for the input, the scale and the shift.

use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// x viewed as (N, C, S).
#[derive(Clone, Copy, Debug)]
struct Layout {
    n: usize,
    c: usize,
    s: usize,
    eps: f32,
}

/// What a per-channel reduction sums (the shader's MODE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChannelSum {
    /// Mean of x.
    Mean = 0,
    /// Mean of (x − mean)²: the biased variance.
    Variance = 1,
    /// Σ dy.
    Dy = 2,
    /// Σ dy·x̂.
    DyXhat = 3,
}

/// The seven read-only operands of every batch_norm kernel; `None` binds a placeholder.
#[derive(Clone, Copy)]
struct Operands<'a> {
    x: &'a Tensor,
    mean: Option<&'a Tensor>,
    variance: Option<&'a Tensor>,
    gamma: Option<&'a Tensor>,
    beta_or_dy: Option<&'a Tensor>,
    sum_dy: Option<&'a Tensor>,
    sum_dy_xhat: Option<&'a Tensor>,
}

impl<'a> Operands<'a> {
    fn of(x: &'a Tensor) -> Self {
        Operands {
            x,
            mean: None,
            variance: None,
            gamma: None,
            beta_or_dy: None,
            sum_dy: None,
            sum_dy_xhat: None,
        }
    }

    fn with_stats(self, mean: &'a Tensor, variance: &'a Tensor) -> Self {
        Operands {
            mean: Some(mean),
            variance: Some(variance),
            ..self
        }
    }
}

impl Layout {
    fn new(op: &'static str, x: &Tensor, eps: f32) -> Result<Layout> {
        let dims = x.dims();
        if !(2..=4).contains(&dims.len()) {
            return Err(Error::shape(
                op,
                "an input of shape (N, C), (N, C, L) or (N, C, H, W)",
                format!("{}", x.shape()),
            ));
        }
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(Error::invalid(
                op,
                format!("eps must be positive and finite, got {eps}"),
            ));
        }
        Ok(Layout {
            n: dims[0],
            c: dims[1],
            s: dims[2..].iter().product(),
            eps,
        })
    }

    /// Checks that each per-channel tensor has shape [C].
    fn check_channels(&self, op: &'static str, named: &[(&str, &Tensor)]) -> Result<()> {
        for (name, t) in named {
            if t.dims() != [self.c] {
                return Err(Error::shape(
                    op,
                    format!("a {name} of shape [{}] (one per channel)", self.c),
                    format!("{}", t.shape()),
                ));
            }
        }
        Ok(())
    }

    fn count(&self) -> usize {
        self.n * self.s
    }

    fn channel(&self, i: usize) -> usize {
        (i / self.s) % self.c
    }

    fn params(&self) -> Params {
        Params::new().u(self.n).u(self.c).u(self.s).f(self.eps)
    }

    /// Runs one entry point on the GPU into a new tensor of `shape`, declaring `flops`
    /// where its threads each do more than a few operations; a `reducing` one (one
    /// workgroup per channel) in the variant chosen for its [channels, values per channel].
    fn dispatch<'a>(
        &self,
        kernel: Kernel,
        ops: Operands<'a>,
        (shape, flops): (Shape, Option<usize>),
        groups: [u32; 3],
        reducing: Option<[usize; 2]>,
    ) -> Result<Tensor> {
        let device = ops.x.device();
        let ctx = device.gpu_context().expect("called for GPU tensors");
        let out = ctx.alloc(shape.numel(), "batch_norm result")?;
        let x = ops.x;
        let bind = move |t: Option<&'a Tensor>| t.unwrap_or(x).gpu_buffer();
        let reads = [
            ops.x.gpu_buffer(),
            bind(ops.mean),
            bind(ops.variance),
            bind(ops.gamma),
            bind(ops.beta_or_dy),
            bind(ops.sum_dy),
            bind(ops.sum_dy_xhat),
        ];
        let params = match flops {
            Some(flops) => self.params().flops(flops),
            None => self.params(),
        };
        match reducing {
            Some(shape) => super::reducing::dispatch_reducing(
                ctx,
                shape,
                &kernel,
                &reads,
                &[&out],
                params,
                groups,
            ),
            None => ctx.dispatch(&kernel, &reads, &[&out], params, groups),
        }
        Ok(Tensor::from_gpu(shape, out, device))
    }

    /// One value per channel: the mean, biased variance, Σdy or Σdy·x̂.
    fn channel_sum(&self, what: ChannelSum, ops: Operands) -> Result<Tensor> {
        let shape = Shape::new(&[self.c])?;
        match ops.x.device() {
            Device::Cpu => {
                let x = ops.x.cpu_data();
                let read = |t: Option<&Tensor>| t.map(|t| t.cpu_data().clone());
                let (mean, var, dy) = (read(ops.mean), read(ops.variance), read(ops.beta_or_dy));
                let mut sums = vec![0.0f64; self.c];
                for (i, &v) in x.iter().enumerate() {
                    let c = self.channel(i);
                    let centred = || v - mean.as_ref().expect("mean given")[c];
                    sums[c] += match what {
                        ChannelSum::Mean => v as f64,
                        ChannelSum::Variance => (centred() as f64).powi(2),
                        ChannelSum::Dy => dy.as_ref().expect("dy given")[i] as f64,
                        ChannelSum::DyXhat => {
                            let inv_std =
                                1.0 / (var.as_ref().expect("var given")[c] + self.eps).sqrt();
                            (dy.as_ref().expect("dy given")[i] * centred() * inv_std) as f64
                        }
                    };
                }
                let scale = match what {
                    ChannelSum::Mean | ChannelSum::Variance => 1.0 / self.count().max(1) as f64,
                    _ => 1.0,
                };
                let out = sums.iter().map(|s| (s * scale) as f32).collect();
                Ok(Tensor::from_cpu(shape, out))
            }
            Device::Gpu(ctx) => {
                let groups = super::groups_per_row(ctx, self.c);
                let kernel =
                    Kernel::new("batch_norm", "channel_reduce", 7, 1).with("MODE", what as u32);
                // About three operations per value: read, centre or scale, add.
                let flops = 3 * self.count() * self.c;
                let reducing = [self.c, self.count()];
                self.dispatch(kernel, ops, (shape, Some(flops)), groups, Some(reducing))
            }
        }
    }

    /// An elementwise entry point (`normalize` or `backward_input`) over x's shape; `f` is
    /// its CPU twin, called with (index, channel, x̂, 1/sqrt(var + eps)) per value.
    fn elementwise(
        &self,
        entry: &'static str,
        ops: Operands,
        f: impl Fn(usize, usize, f32, f32) -> f32,
    ) -> Result<Tensor> {
        let shape = ops.x.shape().clone();
        match ops.x.device() {
            Device::Cpu => {
                let x = ops.x.cpu_data();
                let mean = ops.mean.expect("mean given").cpu_data();
                let var = ops.variance.expect("var given").cpu_data();
                let out = x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let c = self.channel(i);
                        let inv_std = 1.0 / (var[c] + self.eps).sqrt();
                        f(i, c, (v - mean[c]) * inv_std, inv_std)
                    })
                    .collect();
                Ok(Tensor::from_cpu(shape, out))
            }
            Device::Gpu(ctx) => {
                let groups = ctx.groups_1d(shape.numel(), super::WORKGROUP);
                let kernel = Kernel::new("batch_norm", entry, 7, 1);
                self.dispatch(kernel, ops, (shape, None), groups, None)
            }
        }
    }

    /// y = x̂ · gamma + beta.
    fn normalize(&self, ops: Operands, gamma: &Tensor, beta: &Tensor) -> Result<Tensor> {
        let ops = Operands {
            gamma: Some(gamma),
            beta_or_dy: Some(beta),
            ..ops
        };
        let (g, b) = (gamma.to_host_if_cpu(), beta.to_host_if_cpu());
        self.elementwise("normalize", ops, |_, c, xhat, _| xhat * g[c] + b[c])
    }

    /// (dx, dgamma, dbeta); `batch_stats` says whether the statistics came from this
    /// batch (so that they depend on x) or were given.
    fn backward(
        &self,
        ops: Operands,
        gamma: &Tensor,
        dy: &Tensor,
        batch_stats: bool,
    ) -> Result<[Tensor; 3]> {
        let ops = Operands {
            beta_or_dy: Some(dy),
            ..ops
        };
        let sum_dy = self.channel_sum(ChannelSum::Dy, ops)?;
        let sum_dy_xhat = self.channel_sum(ChannelSum::DyXhat, ops)?;
        let zeros;
        let (through_dy, through_xhat) = if batch_stats {
            (&sum_dy, &sum_dy_xhat)
        } else {
            zeros = Tensor::zeros(&[self.c], dy.device())?;
            (&zeros, &zeros)
        };
        let ops = Operands {
            gamma: Some(gamma),
            sum_dy: Some(through_dy),
            sum_dy_xhat: Some(through_xhat),
            ..ops
        };
        let (g, dys) = (gamma.to_host_if_cpu(), dy.to_host_if_cpu());
        let (s1, s2) = (through_dy.to_host_if_cpu(), through_xhat.to_host_if_cpu());
        let m = self.count() as f32;
        let dx = self.elementwise("backward_input", ops, |i, c, xhat, inv_std| {
            g[c] * inv_std * (dys[i] - s1[c] / m - xhat * s2[c] / m)
        })?;
        Ok([dx, sum_dy_xhat, sum_dy])
    }
}

impl Tensor {
    /// This tensor's values when it lives on the CPU (empty on the GPU, where the CPU
    /// twins are not called).
    fn to_host_if_cpu(&self) -> Vec<f32> {
        match self.device() {
            Device::Cpu => self.cpu_data().clone(),
            Device::Gpu(_) => Vec::new(),
        }
    }

    /// Batch normalization with this batch's statistics (training mode), over axis 1 of an
    /// (N, C), (N, C, L) or (N, C, H, W) tensor: per channel,
    /// y = (x − mean) / sqrt(var + eps) · gamma + beta. Returns (y, mean, var), var biased
    /// (divided by N·H·W); the
    /// statistics are detached, for a layer to keep running averages of.
    pub fn batch_norm(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        Tensor::common_device("batch_norm", &[self, gamma, beta])?;
        let layout = Layout::new("batch_norm", self, eps)?;
        layout.check_channels("batch_norm", &[("gamma", gamma), ("beta", beta)])?;
        if layout.count() == 0 {
            return Err(Error::shape(
                "batch_norm",
                "at least one value per channel",
                format!("{}", self.shape()),
            ));
        }
        let x = self.detach();
        let mean = layout.channel_sum(ChannelSum::Mean, Operands::of(&x))?;
        let var = layout.channel_sum(
            ChannelSum::Variance,
            Operands::of(&x).with_stats(&mean, &mean),
        )?;
        let y = layout.normalize(Operands::of(&x).with_stats(&mean, &var), gamma, beta)?;
        let (m, v, g) = (mean.clone(), var.clone(), gamma.detach());
        let y = record("batch_norm", y, &[self, gamma, beta], move |dy| {
            let grads = layout.backward(Operands::of(&x).with_stats(&m, &v), &g, dy, true)?;
            Ok(grads.into_iter().map(Some).collect())
        });
        Ok((y, mean, var))
    }

    /// Batch normalization with given per-channel statistics (evaluation mode, running
    /// averages): y = (x − mean) / sqrt(var + eps) · gamma + beta. Differentiable in the
    /// input, gamma and beta; the statistics are treated as constants.
    pub fn batch_norm_with_stats(
        &self,
        mean: &Tensor,
        var: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> Result<Tensor> {
        Tensor::common_device("batch_norm_with_stats", &[self, mean, var, gamma, beta])?;
        let layout = Layout::new("batch_norm_with_stats", self, eps)?;
        layout.check_channels(
            "batch_norm_with_stats",
            &[
                ("mean", mean),
                ("var", var),
                ("gamma", gamma),
                ("beta", beta),
            ],
        )?;
        let x = self.detach();
        let (m, v) = (mean.detach(), var.detach());
        let y = layout.normalize(Operands::of(&x).with_stats(&m, &v), gamma, beta)?;
        let g = gamma.detach();
        Ok(record(
            "batch_norm_with_stats",
            y,
            &[self, gamma, beta],
            move |dy| {
                let grads = layout.backward(Operands::of(&x).with_stats(&m, &v), &g, dy, false)?;
                Ok(grads.into_iter().map(Some).collect())
            },
        ))
    }
}
