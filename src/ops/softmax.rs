//! Softmax and log-softmax over the last axis, max-shifted (shaders/softmax.wgsl).

use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Rows and columns of a tensor seen as (rows, last axis).
fn rows_cols(op: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    match x.dims().last() {
        Some(&cols) if cols > 0 => Ok((x.numel() / cols, cols)),
        _ => Err(Error::shape(
            op,
            "a tensor of rank >= 1 with a non-empty last axis",
            format!("{}", x.shape()),
        )),
    }
}

fn forward(x: &Tensor, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let (rows, cols) = rows_cols(op, x)?;
    let out = match x.device() {
        Device::Cpu => {
            let data = x.cpu_data();
            let mut out = vec![0.0f32; data.len()];
            for (row, dst) in data.chunks(cols).zip(out.chunks_mut(cols)) {
                let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let s: f32 = row.iter().map(|&v| (v - m).exp()).sum();
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = if log {
                        v - m - s.ln()
                    } else {
                        (v - m).exp() / s
                    };
                }
            }
            Tensor::from_cpu(x.shape().clone(), out)
        }
        device @ Device::Gpu(ctx) => {
            let y = ctx.alloc(x.numel(), op)?;
            super::reducing::dispatch_reducing(
                ctx,
                [rows, cols],
                &Kernel::new("softmax", "softmax", 1, 1).with("OP", log as u32),
                &[x.gpu_buffer()],
                &[&y],
                Params::new()
                    .u(rows)
                    .u(cols)
                    .flops(super::loss::SOFTMAX_FLOPS * rows * cols),
                super::groups_per_row(ctx, rows),
            );
            Tensor::from_gpu(x.shape().clone(), y, device)
        }
    };
    let y = out.clone();
    Ok(record(op, out, &[x], move |g| {
        Ok(vec![Some(backward(&y, g, log, rows, cols)?)])
    }))
}

/// softmax: dx = y·(dy − Σ dy·y); log_softmax: dx = dy − e^y·Σ dy.
fn backward(y: &Tensor, dy: &Tensor, log: bool, rows: usize, cols: usize) -> Result<Tensor> {
    match y.device() {
        Device::Cpu => {
            let (ys, gs) = (y.cpu_data(), dy.cpu_data());
            let mut out = vec![0.0f32; ys.len()];
            for ((yr, gr), dst) in ys
                .chunks(cols)
                .zip(gs.chunks(cols))
                .zip(out.chunks_mut(cols))
            {
                if log {
                    let s: f32 = gr.iter().sum();
                    for ((d, &yv), &gv) in dst.iter_mut().zip(yr).zip(gr) {
                        *d = gv - yv.exp() * s;
                    }
                } else {
                    let s: f32 = gr.iter().zip(yr).map(|(g, y)| g * y).sum();
                    for ((d, &yv), &gv) in dst.iter_mut().zip(yr).zip(gr) {
                        *d = yv * (gv - s);
                    }
                }
            }
            Ok(Tensor::from_cpu(y.shape().clone(), out))
        }
        device @ Device::Gpu(ctx) => {
            let dx = ctx.alloc(y.numel(), "softmax gradient")?;
            super::reducing::dispatch_reducing(
                ctx,
                [rows, cols],
                &Kernel::new("softmax", "softmax_backward", 2, 1).with("OP", log as u32),
                &[y.gpu_buffer(), dy.gpu_buffer()],
                &[&dx],
                Params::new()
                    .u(rows)
                    .u(cols)
                    .flops(super::loss::SOFTMAX_FLOPS * rows * cols),
                super::groups_per_row(ctx, rows),
            );
            Ok(Tensor::from_gpu(y.shape().clone(), dx, device))
        }
    }
}

impl Tensor {
    /// Softmax over the last axis.
    pub fn softmax(&self) -> Result<Tensor> {
        forward(self, false)
    }

    /// Log-softmax over the last axis.
    pub fn log_softmax(&self) -> Result<Tensor> {
        forward(self, true)
    }
}
