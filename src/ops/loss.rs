//! Losses: MSE, MAE, binary cross-entropy on logits, and cross-entropy from logits with
//! integer labels as one fused kernel that also writes its gradient (shaders/loss.wgsl).

use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PairLoss {
    SquaredError = 0,
    AbsoluteError = 1,
    BinaryCrossEntropyLogits = 2,
}

impl PairLoss {
    fn name(self) -> &'static str {
        match self {
            PairLoss::SquaredError => "mse_loss",
            PairLoss::AbsoluteError => "mae_loss",
            PairLoss::BinaryCrossEntropyLogits => "bce_with_logits_loss",
        }
    }

    fn term(self, x: f32, y: f32) -> f32 {
        match self {
            PairLoss::SquaredError => (x - y) * (x - y),
            PairLoss::AbsoluteError => (x - y).abs(),
            PairLoss::BinaryCrossEntropyLogits => {
                x.max(0.0) - x * y + (1.0 + (-x.abs()).exp()).ln()
            }
        }
    }

    /// (d term / dx, d term / dy).
    fn grads(self, x: f32, y: f32) -> (f32, f32) {
        match self {
            PairLoss::SquaredError => (2.0 * (x - y), -2.0 * (x - y)),
            PairLoss::AbsoluteError => {
                let s = if x > y {
                    1.0
                } else if x < y {
                    -1.0
                } else {
                    0.0
                };
                (s, -s)
            }
            PairLoss::BinaryCrossEntropyLogits => {
                let sig = if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    x.exp() / (1.0 + x.exp())
                };
                (sig - y, -x)
            }
        }
    }
}

fn pair_loss(pred: &Tensor, target: &Tensor, kind: PairLoss) -> Result<Tensor> {
    let op = kind.name();
    let device = Tensor::common_device(op, &[pred, target])?;
    if pred.shape() != target.shape() {
        return Err(Error::shape(
            op,
            format!("a target of the prediction's shape {}", pred.shape()),
            format!("{}", target.shape()),
        ));
    }
    let n = pred.numel();
    if n == 0 {
        return Err(Error::invalid(op, "the loss of empty tensors is undefined"));
    }
    let terms = match &device {
        Device::Cpu => {
            let (xs, ys) = (pred.cpu_data(), target.cpu_data());
            let data = xs
                .iter()
                .zip(ys.iter())
                .map(|(&x, &y)| kind.term(x, y))
                .collect();
            Tensor::from_cpu(pred.shape().clone(), data)
        }
        Device::Gpu(ctx) => {
            let out = ctx.alloc(n, op)?;
            ctx.dispatch(
                &Kernel::new("loss", "pair_loss", 2, 1).with("OP", kind as u32),
                &[pred.gpu_buffer(), target.gpu_buffer()],
                &[&out],
                Params::new().u(n),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Tensor::from_gpu(pred.shape().clone(), out, &device)
        }
    };
    let loss = crate::no_grad(|| terms.mean())?;
    let (x, y) = (pred.detach(), target.detach());
    Ok(record(op, loss, &[pred, target], move |g| {
        let (dx, dy) = pair_loss_grads(&x, &y, g, kind)?;
        Ok(vec![Some(dx), Some(dy)])
    }))
}

fn pair_loss_grads(x: &Tensor, y: &Tensor, g: &Tensor, kind: PairLoss) -> Result<(Tensor, Tensor)> {
    let n = x.numel();
    let scale = 1.0 / n as f32;
    match x.device() {
        Device::Cpu => {
            let upstream = g.cpu_data()[0] * scale;
            let (xs, ys) = (x.cpu_data(), y.cpu_data());
            let (dx, dy): (Vec<f32>, Vec<f32>) = xs
                .iter()
                .zip(ys.iter())
                .map(|(&a, &b)| {
                    let (ga, gb) = kind.grads(a, b);
                    (ga * upstream, gb * upstream)
                })
                .unzip();
            Ok((
                Tensor::from_cpu(x.shape().clone(), dx),
                Tensor::from_cpu(x.shape().clone(), dy),
            ))
        }
        device @ Device::Gpu(ctx) => {
            let dx = ctx.alloc(n, "loss gradient")?;
            let dy = ctx.alloc(n, "loss gradient")?;
            ctx.dispatch(
                &Kernel::new("loss", "pair_loss_backward", 3, 2).with("OP", kind as u32),
                &[x.gpu_buffer(), y.gpu_buffer(), g.gpu_buffer()],
                &[&dx, &dy],
                Params::new().u(n).u(0).f(scale),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok((
                Tensor::from_gpu(x.shape().clone(), dx, device),
                Tensor::from_gpu(x.shape().clone(), dy, device),
            ))
        }
    }
}

/// CPU cross-entropy: per-row losses and the gradient (softmax − onehot)·scale, in
/// parallel over rows when large.
fn cross_entropy_cpu(
    logits: &[f32],
    labels: &[f32],
    cols: usize,
    scale: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    if let Some(&label) = labels
        .iter()
        .find(|&&l| !(l >= 0.0 && l < cols as f32 && l.fract() == 0.0))
    {
        return Err(Error::invalid(
            "cross_entropy",
            format!("labels must be integers in [0, {cols}), got {label}"),
        ));
    }
    let mut row_loss = vec![0.0f32; labels.len()];
    let mut grad = host_pool::uninit(logits.len());
    let rows_per_task = (super::cpu::GRAIN / cols.max(1)).max(1);
    grad.par_chunks_mut(cols.max(1))
        .zip(row_loss.par_iter_mut())
        .zip(logits.par_chunks(cols.max(1)).zip(labels.par_iter()))
        .with_min_len(rows_per_task)
        .for_each(|((g, loss), (row, &label))| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            g.iter_mut().zip(row).for_each(|(e, &v)| *e = (v - m).exp());
            let s: f32 = g.iter().sum();
            let label = label as usize;
            *loss = m + s.ln() - row[label];
            let k = scale / s;
            g.iter_mut().for_each(|e| *e *= k);
            g[label] -= scale;
        });
    Ok((row_loss, grad))
}

impl Tensor {
    /// Mean squared error against `target` (same shape).
    pub fn mse_loss(&self, target: &Tensor) -> Result<Tensor> {
        pair_loss(self, target, PairLoss::SquaredError)
    }

    /// Mean absolute error against `target` (same shape).
    pub fn mae_loss(&self, target: &Tensor) -> Result<Tensor> {
        pair_loss(self, target, PairLoss::AbsoluteError)
    }

    /// Binary cross-entropy of these logits against 0/1 (or soft) targets, computed
    /// stably as max(x, 0) − x·t + ln(1 + e^−|x|), averaged.
    pub fn bce_with_logits_loss(&self, target: &Tensor) -> Result<Tensor> {
        pair_loss(self, target, PairLoss::BinaryCrossEntropyLogits)
    }

    /// Mean cross-entropy of logits (N, C) against integer class labels (N) stored as
    /// f32. One fused kernel computes the loss and its gradient. On the CPU a label
    /// outside [0, C) is an error; on the GPU (which is not waited for) it makes the loss NaN.
    pub fn cross_entropy(&self, labels: &Tensor) -> Result<Tensor> {
        let (rows, cols) = cross_entropy_dims(self, labels)?;
        let device = self.device();
        let scale = 1.0 / rows as f32;
        let (row_loss, grad) = match device {
            Device::Cpu => {
                let (losses, grad) =
                    cross_entropy_cpu(&self.cpu_data(), &labels.cpu_data(), cols, scale)?;
                (
                    Tensor::from_cpu(Shape::new(&[rows])?, losses),
                    Tensor::from_cpu(self.shape().clone(), grad),
                )
            }
            Device::Gpu(ctx) => {
                let losses = ctx.alloc(rows, "cross-entropy rows")?;
                let grad = ctx.alloc(self.numel(), "cross-entropy gradient")?;
                super::reducing::dispatch_reducing(
                    ctx,
                    [rows, cols],
                    &Kernel::new("loss", "cross_entropy", 2, 2),
                    &[self.gpu_buffer(), labels.gpu_buffer()],
                    &[&losses, &grad],
                    Params::new()
                        .u(rows)
                        .u(cols)
                        .f(scale)
                        .flops(SOFTMAX_FLOPS * rows * cols),
                    super::groups_per_row(ctx, rows),
                );
                (
                    Tensor::from_gpu(Shape::new(&[rows])?, losses, device),
                    Tensor::from_gpu(self.shape().clone(), grad, device),
                )
            }
        };
        let loss = crate::no_grad(|| row_loss.mean())?;
        Ok(record_cross_entropy(self, labels, loss, grad))
    }

    /// [`Tensor::cross_entropy`], and the running sums of an epoch advanced by this batch:
    /// `sums` holds [loss total, correct count]; the result is the mean loss and `sums` +
    /// [the batch's summed loss, its rows whose first arg-max is their label]. A training
    /// step's loss and metrics come from one kernel this way: on the GPU, batches of up to
    /// 65,536 logits are one dispatch (larger ones take the separate ops).
    pub fn cross_entropy_tracked(
        &self,
        labels: &Tensor,
        sums: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        const OP: &str = "cross_entropy_tracked";
        let (rows, cols) = cross_entropy_dims(self, labels)?;
        Tensor::common_device(OP, &[self, sums])?;
        if sums.dims() != [2] {
            return Err(Error::shape(
                OP,
                "running sums of shape [2] (loss total, correct count)",
                format!("{}", sums.shape()),
            ));
        }
        let device = self.device();
        let scale = 1.0 / rows as f32;
        let (loss, grad, sums) = match device {
            Device::Cpu => {
                let logits = self.cpu_data();
                let targets = labels.cpu_data();
                let (losses, grad) = cross_entropy_cpu(&logits, &targets, cols, scale)?;
                let total: f32 = losses.iter().sum();
                let hits = logits
                    .chunks(cols)
                    .zip(targets.iter())
                    .filter(|(row, &label)| first_argmax(row) == label as usize)
                    .count();
                let before = sums.cpu_data();
                (
                    Tensor::from_cpu(Shape::new(&[])?, vec![total * scale]),
                    Tensor::from_cpu(self.shape().clone(), grad),
                    Tensor::from_cpu(
                        Shape::new(&[2])?,
                        vec![before[0] + total, before[1] + hits as f32],
                    ),
                )
            }
            Device::Gpu(ctx) if rows * cols <= TRACKED_MAX_LOGITS => {
                let loss = ctx.alloc(1, "cross-entropy loss")?;
                let grad = ctx.alloc(self.numel(), "cross-entropy gradient")?;
                let after = ctx.alloc(2, "running sums")?;
                super::reducing::dispatch_reducing(
                    ctx,
                    [1, rows],
                    &Kernel::new("loss", "cross_entropy_tracked", 3, 3),
                    &[self.gpu_buffer(), labels.gpu_buffer(), sums.gpu_buffer()],
                    &[&loss, &grad, &after],
                    Params::new()
                        .u(rows)
                        .u(cols)
                        .f(scale)
                        .flops(SOFTMAX_FLOPS * rows * cols),
                    [1, 1, 1],
                );
                (
                    Tensor::from_gpu(Shape::new(&[])?, loss, device),
                    Tensor::from_gpu(self.shape().clone(), grad, device),
                    Tensor::from_gpu(Shape::new(&[2])?, after, device),
                )
            }
            Device::Gpu(_) => {
                let loss = self.cross_entropy(labels)?;
                let correct = crate::no_grad(|| self.argmax(-1, false)?.eq(labels)?.sum())?;
                let sums = advance_sums(sums, &loss, rows, Some(&correct))?;
                return Ok((loss, sums));
            }
        };
        Ok((record_cross_entropy(self, labels, loss, grad), sums))
    }
}

/// Running sums [loss total, correct count] advanced by a batch of `rows` samples with
/// mean loss `loss` and `correct` right predictions (none: the count stays): one small
/// dispatch on the GPU, outside the tape.
pub(crate) fn advance_sums(
    sums: &Tensor,
    loss: &Tensor,
    rows: usize,
    correct: Option<&Tensor>,
) -> Result<Tensor> {
    let device = sums.device();
    match device {
        Device::Cpu => {
            let before = sums.cpu_data();
            let hits = correct.map_or(Ok(0.0), |c| c.item())?;
            let after = vec![before[0] + loss.item()? * rows as f32, before[1] + hits];
            Ok(Tensor::from_cpu(Shape::new(&[2])?, after))
        }
        Device::Gpu(ctx) => {
            let after = ctx.alloc(2, "running sums")?;
            // Without a count the kernel's count binding reads the loss (never used).
            let count = correct.unwrap_or(loss);
            ctx.dispatch(
                &Kernel::new("loss", "advance_sums", 3, 1),
                &[sums.gpu_buffer(), loss.gpu_buffer(), count.gpu_buffer()],
                &[&after],
                Params::new()
                    .u(0)
                    .u(correct.is_some() as usize)
                    .f(rows as f32),
                [1, 1, 1],
            );
            Ok(Tensor::from_gpu(Shape::new(&[2])?, after, device))
        }
    }
}

/// Operations per logit of a softmax or cross-entropy kernel (max, exp, sum, divide or
/// log, gradient), as declared to the launch log.
pub(super) const SOFTMAX_FLOPS: usize = 5;

/// Largest number of logits `cross_entropy_tracked` gives its one-workgroup kernel.
const TRACKED_MAX_LOGITS: usize = 1 << 16;

/// (rows, classes) of logits and labels that cross-entropy accepts.
fn cross_entropy_dims(logits: &Tensor, labels: &Tensor) -> Result<(usize, usize)> {
    Tensor::common_device("cross_entropy", &[logits, labels])?;
    let &[rows, cols] = logits.dims() else {
        return Err(Error::shape(
            "cross_entropy",
            "logits of shape (N, C)",
            format!("{}", logits.shape()),
        ));
    };
    if labels.dims() != [rows] {
        return Err(Error::shape(
            "cross_entropy",
            format!("labels of shape [{rows}]"),
            format!("{}", labels.shape()),
        ));
    }
    if rows == 0 || cols == 0 {
        return Err(Error::invalid(
            "cross_entropy",
            format!(
                "at least one row and one class, got shape {}",
                logits.shape()
            ),
        ));
    }
    Ok((rows, cols))
}

/// The first index of a row's maximum, a NaN counting as the largest (as `argmax`).
fn first_argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] || (v.is_nan() && !row[best].is_nan()) {
            best = j;
        }
    }
    best
}

/// Records the mean loss on the tape: its gradient is the saved (softmax − onehot)/N
/// scaled by the upstream gradient (no dispatch when that is `backward()`'s seed).
fn record_cross_entropy(logits: &Tensor, labels: &Tensor, loss: Tensor, grad: Tensor) -> Tensor {
    record("cross_entropy", loss, &[logits, labels], move |g| {
        let scaled = if g.is_unit_seed() { grad } else { grad.mul(g)? };
        Ok(vec![Some(scaled), None])
    })
}
