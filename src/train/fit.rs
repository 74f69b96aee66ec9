//! The training loop. A step records forward, loss, backward and the optimizer update
//! into the device's command stream; running sums of loss and correct predictions stay on
//! the device. Every `log_every` (progress bar) or `check_every` (divergence) steps they
//! are read without waiting (`Tensor::read_later`) and used when they arrive, a few steps
//! later; the epoch's end reads them with the epoch's one wait on the GPU.

use super::checkpoint::{self, Best, Checkpointing, Progress};
use super::history::{epoch_line, EpochStats, History};
use super::metrics::Loss;
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::optim::{Optimizer, Schedule};
use crate::tensor::{LaterRead, Tensor};
use std::sync::Arc;
use std::time::Instant;

/// Called after every epoch with its figures; return false to stop training.
pub type EpochCallback = Arc<dyn Fn(&EpochStats) -> bool + Send + Sync>;

/// Stop when the validation loss has not improved by `min_delta` for `patience` epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest decrease that counts as an improvement.
    pub min_delta: f32,
    /// Put back the weights of the best epoch when stopping (or at the end).
    pub restore_best_weights: bool,
}

/// How `fit` runs.
#[derive(Clone)]
pub struct FitOptions {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step, from 1 to the training set's size (the data size for full-batch
    /// descent, 1 for stochastic); a larger one is an error.
    pub batch_size: usize,
    /// Reshuffle every epoch (with `seed + epoch`).
    pub shuffle: bool,
    /// Seed of the shuffles.
    pub seed: u64,
    /// Skip the last, smaller batch of an epoch.
    pub drop_last: bool,
    /// Hold out this last fraction of the training data for validation.
    pub validation_split: Option<f32>,
    /// Separate validation data (takes precedence over `validation_split`).
    pub validation_data: Option<Dataset>,
    /// Early stopping on the validation loss.
    pub early_stopping: Option<EarlyStopping>,
    /// Learning-rate schedule, applied every step from the optimizer's starting rate.
    pub schedule: Option<Schedule>,
    /// Print a progress bar and a line per epoch.
    pub verbose: bool,
    /// Steps between progress-bar loss updates (each starts a read from the device that
    /// the loop does not wait for).
    pub log_every: usize,
    /// Called after every epoch (after validation); returning false stops training.
    pub on_epoch_end: Option<EpochCallback>,
    /// Save the run after epochs, and resume from the saved run.
    pub checkpoint: Option<Checkpointing>,
    /// Stop with [`Error::NonFinite`] when the loss or a parameter becomes NaN or infinite.
    /// It is checked every `check_every` steps and at the end of each epoch, from values
    /// kept on the device, so the GPU is not waited on in between.
    pub stop_on_non_finite: bool,
    /// Steps between checks for non-finite values (each starts a read from the device
    /// that the loop does not wait for; the check runs when the values arrive).
    pub check_every: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 10,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            drop_last: false,
            validation_split: None,
            validation_data: None,
            early_stopping: None,
            schedule: None,
            verbose: true,
            log_every: 100,
            on_epoch_end: None,
            checkpoint: None,
            stop_on_non_finite: true,
            check_every: 100,
        }
    }
}

/// Loss and accuracy over a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f32,
    /// Fraction classified correctly, for classification losses.
    pub accuracy: Option<f32>,
}

/// Running sums kept on the device: [loss total (weighted by batch size), correct count].
struct Totals {
    sums: Tensor,
    has_correct: bool,
    samples: usize,
}

impl Totals {
    fn new(loss: Loss, device: &Device) -> Result<Self> {
        Ok(Totals {
            sums: Tensor::zeros(&[2], device)?,
            has_correct: loss.has_accuracy(),
            samples: 0,
        })
    }

    /// The batch's loss of `output` against `target` (recorded on the tape), with the
    /// sums advanced by it in the same kernel where the loss has one.
    fn add(&mut self, loss: Loss, output: &Tensor, target: &Tensor) -> Result<Tensor> {
        let (batch_loss, sums) = loss.compute_tracked(output, target, &self.sums)?;
        self.sums = sums;
        self.samples += output.dims().first().copied().unwrap_or(1);
        Ok(batch_loss)
    }

    /// Starts reading the sums so far (the loss total, weighted by batch size, and the
    /// correct count) without waiting for the device.
    fn read_later(&self) -> Result<TotalsRead> {
        Ok(TotalsRead {
            samples: self.samples,
            has_correct: self.has_correct,
            read: Tensor::read_later(&[&self.sums])?,
        })
    }

    /// The sums so far, waiting for the device once.
    fn read_now(&self) -> Result<TotalsSnapshot> {
        self.read_later()?.wait()
    }
}

/// The running sums of an epoch on their way from the device.
struct TotalsRead {
    samples: usize,
    has_correct: bool,
    read: LaterRead,
}

/// The running sums of an epoch as read: the loss total (weighted by batch size), the
/// correct count, and the samples they cover.
struct TotalsSnapshot {
    loss_total: f32,
    correct: Option<f32>,
    samples: usize,
}

impl TotalsRead {
    /// The sums if they have arrived; never blocks.
    fn try_take(&mut self) -> Result<Option<TotalsSnapshot>> {
        let (samples, has_correct) = (self.samples, self.has_correct);
        Ok(self
            .read
            .try_take()?
            .map(|values| TotalsSnapshot::new(samples, has_correct, values)))
    }

    /// The sums, waiting for the device once.
    fn wait(self) -> Result<TotalsSnapshot> {
        let values = self.read.wait()?;
        Ok(TotalsSnapshot::new(self.samples, self.has_correct, values))
    }
}

impl TotalsSnapshot {
    /// The sums from the values read: the running sums' one tensor, [loss total,
    /// correct count].
    fn new(samples: usize, has_correct: bool, values: Vec<Vec<f32>>) -> Self {
        let sums = values.into_iter().next().unwrap_or_default();
        let at = |i: usize| sums.get(i).copied().unwrap_or(0.0);
        TotalsSnapshot {
            loss_total: at(0),
            correct: has_correct.then(|| at(1)),
            samples,
        }
    }

    fn evaluation(&self) -> Evaluation {
        let samples = self.samples.max(1) as f32;
        Evaluation {
            loss: self.loss_total / samples,
            accuracy: self.correct.map(|c| c / samples),
        }
    }
}

fn check_batch(op: &'static str, batch_size: usize, len: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::invalid(
            op,
            "the batch size must be at least 1, got 0",
        ));
    }
    if len == 0 {
        return Err(Error::invalid(op, "the dataset is empty"));
    }
    Ok(())
}

/// Runs a loop over `device`'s batches: on the CPU, on a rayon worker thread with the
/// caller's grad mode (see `ops::cpu::on_worker`); on a GPU, on this thread.
fn on_cpu_worker<R: Send>(device: &Device, f: impl FnOnce() -> R + Send) -> R {
    match device {
        Device::Cpu => crate::ops::cpu::on_worker(f),
        Device::Gpu(_) => f(),
    }
}

/// Loss (and accuracy) of `model` over `data`, in evaluation mode and without recording,
/// `batch_size` samples at a time (or halves of that, where a batch's activations
/// outgrow the device's largest buffer).
pub fn evaluate(
    model: &dyn Module,
    data: &Dataset,
    loss: Loss,
    batch_size: usize,
) -> Result<Evaluation> {
    check_batch("evaluate", batch_size, data.len())?;
    model.set_training(false);
    let result = on_cpu_worker(data.device(), || {
        no_grad(|| {
            in_fitting_batches(batch_size, |batch_size| {
                let mut totals = Totals::new(loss, data.device())?;
                for batch in data.batches(batch_size, None, false)? {
                    let (x, y) = batch?;
                    totals.add(loss, &model.forward(&x)?, &y)?;
                }
                Ok(totals.read_now()?.evaluation())
            })
        })
    });
    model.set_training(true);
    result
}

/// `run(batch_size)`, run again with half the batch for as long as it fails with
/// [`Error::TooLarge`]: a batch whose activations outgrow the device's largest buffer
/// (a CNN's at batch 1000 on an adapter that binds 128 MiB) is evaluated in smaller
/// ones, with the same result. For runs that only read (evaluation, prediction).
pub(crate) fn in_fitting_batches<T>(
    batch_size: usize,
    mut run: impl FnMut(usize) -> Result<T>,
) -> Result<T> {
    let mut batch = batch_size;
    loop {
        match run(batch) {
            Err(Error::TooLarge { .. }) if batch > 1 => batch = batch.div_ceil(2),
            other => return other,
        }
    }
}

/// The model's outputs for `inputs`, in evaluation mode and without recording.
pub fn predict(model: &dyn Module, inputs: &Tensor) -> Result<Tensor> {
    model.set_training(false);
    let out = no_grad(|| model.forward(inputs));
    model.set_training(true);
    out
}

/// Copies of the parameters' current values.
fn snapshot(params: &[Tensor]) -> Result<Vec<Tensor>> {
    no_grad(|| params.iter().map(|p| p.mul_scalar(1.0)).collect())
}

/// Trains `model` on `train` with `optimizer`, returning the per-epoch history. With
/// [`FitOptions::checkpoint`], the run is saved after every epoch and a later call with the
/// same settings continues from the last checkpoint, ending where one uninterrupted call
/// would have.
///
/// ```
/// use wgnn::data::synthetic;
/// use wgnn::nn::{Activation, Linear, Module, Sequential};
/// use wgnn::optim::Optimizer;
/// use wgnn::train::{evaluate, fit, FitOptions, Loss};
/// use wgnn::Device;
///
/// # fn main() -> wgnn::Result<()> {
/// let device = Device::cpu();
/// let data = synthetic::xor(&device)?;
/// wgnn::nn::manual_seed(0);
/// let model = Sequential::new()
///     .add(Linear::new(2, 8, &device)?)
///     .add(Activation::tanh())
///     .add(Linear::new(8, 1, &device)?);
/// let mut adam = Optimizer::adam(model.parameters(), 0.05)?;
/// let options = FitOptions { epochs: 300, batch_size: 4, verbose: false, ..FitOptions::default() };
/// let history = fit(&model, &mut adam, Loss::BinaryCrossEntropy, &data, &options)?;
/// assert_eq!(history.epochs.len(), 300);
/// let result = evaluate(&model, &data, Loss::BinaryCrossEntropy, 4)?;
/// assert_eq!(result.accuracy, Some(1.0));
/// # Ok(())
/// # }
/// ```
pub fn fit(
    model: &dyn Module,
    optimizer: &mut Optimizer,
    loss: Loss,
    train: &Dataset,
    options: &FitOptions,
) -> Result<History> {
    let (train, validation) = match (&options.validation_data, options.validation_split) {
        (Some(v), _) => (train.clone(), Some(v.clone())),
        (None, Some(fraction)) => {
            let (t, v) = train.split(fraction)?;
            (t, Some(v))
        }
        (None, None) => (train.clone(), None),
    };
    check_batch("fit", options.batch_size, train.len())?;
    if options.batch_size > train.len() {
        return Err(Error::invalid(
            "fit",
            format!(
                "the batch size ({}) is larger than the training set ({} samples{}); use a \
                 batch size of at most {}",
                options.batch_size,
                train.len(),
                if validation.is_some() && options.validation_data.is_none() {
                    " after the validation split"
                } else {
                    ""
                },
                train.len()
            ),
        ));
    }
    if options.early_stopping.is_some() && validation.is_none() {
        return Err(Error::invalid(
            "fit",
            "early stopping watches the validation loss: give validation_data or validation_split",
        ));
    }
    if let Some(s) = &options.schedule {
        s.validate()?;
    }
    if let Some(c) = &options.checkpoint {
        if c.every == 0 {
            return Err(Error::invalid(
                "fit",
                "checkpoints are written every N epochs with N >= 1, got 0",
            ));
        }
    }
    let base_lr = optimizer.lr();
    let params = model.parameters();
    let mut history = History::default();
    let mut best: Option<Best> = None;
    let mut first_epoch = 1;
    let mut finished = false;
    if let Some(c) = options
        .checkpoint
        .as_ref()
        .filter(|c| c.resume && c.path.exists())
    {
        let resumed =
            checkpoint::load(&c.path, model, optimizer, options.batch_size, options.seed)?;
        first_epoch = resumed.epoch + 1;
        if options.verbose {
            println!(
                "resuming from {} after epoch {}",
                c.path.display(),
                resumed.epoch
            );
        }
        history = resumed.history;
        finished = resumed.finished;
        history.stopped_early = finished && resumed.epoch < options.epochs;
        // The best epoch matters only to a run that stops early.
        best = resumed.best.filter(|_| options.early_stopping.is_some());
    }
    model.set_training(true);
    // A finished run (stopped early or by its callback) trains no further epoch.
    let last_epoch = if finished { 0 } else { options.epochs };
    for epoch in first_epoch..=last_epoch {
        let stats = on_cpu_worker(train.device(), || {
            train_epoch(model, optimizer, loss, &train, options, epoch, base_lr)
        })?;
        let val = validation
            .as_ref()
            .map(|v| evaluate(model, v, loss, options.batch_size))
            .transpose()?;
        let stats = EpochStats {
            val_loss: val.map(|v| v.loss),
            val_accuracy: val.and_then(|v| v.accuracy),
            ..stats
        };
        if options.verbose {
            println!("{}", epoch_line(&stats, options.epochs));
        }
        let keep_going = options
            .on_epoch_end
            .as_ref()
            .is_none_or(|callback| callback(&stats));
        history.epochs.push(stats);
        let mut stop = !keep_going;
        if let (Some(es), Some(v)) = (options.early_stopping, val) {
            let improved = best
                .as_ref()
                .is_none_or(|(b, _, _)| v.loss < b - es.min_delta);
            if improved {
                let weights = if es.restore_best_weights {
                    Some(snapshot(&params)?)
                } else {
                    None
                };
                best = Some((v.loss, epoch, weights));
            } else if epoch - best.as_ref().map_or(0, |b| b.1) >= es.patience {
                stop = true;
            }
        }
        history.stopped_early = stop && epoch < options.epochs;
        if let Some(c) = &options.checkpoint {
            if stop || epoch == options.epochs || epoch % c.every == 0 {
                let progress = Progress {
                    epoch,
                    history: &history,
                    finished: stop,
                    best: best.as_ref(),
                    batch_size: options.batch_size,
                    seed: options.seed,
                };
                checkpoint::save(&c.path, model, optimizer, &progress)?;
            }
        }
        if stop {
            break;
        }
    }
    if let Some((_, epoch, Some(weights))) = best {
        for (p, w) in params.iter().zip(&weights) {
            p.copy_from(w)?;
        }
        history.restored_epoch = Some(epoch);
    }
    Ok(history)
}

/// One pass over `train`: forward, loss, backward and update per batch, with the
/// progress bar; returns the epoch's training figures (validation left empty).
fn train_epoch(
    model: &dyn Module,
    optimizer: &mut Optimizer,
    loss: Loss,
    train: &Dataset,
    options: &FitOptions,
    epoch: usize,
    base_lr: f32,
) -> Result<EpochStats> {
    let start = Instant::now();
    let batches = train.batches(
        options.batch_size,
        options
            .shuffle
            .then_some(options.seed.wrapping_add(epoch as u64)),
        options.drop_last,
    )?;
    let bar = progress_bar(options.verbose, train.len(), epoch, options.epochs);
    let mut totals = Totals::new(loss, train.device())?;
    let mut watch = Divergence::new(model, options, epoch, batches.batch_count(), train.device())?;
    // The sums read for the bar and the divergence check arrive while later steps are
    // recorded: the epoch waits on the device only at its end.
    let mut in_flight: Option<(usize, TotalsRead)> = None;
    let bar_every = if options.verbose {
        options.log_every
    } else {
        0
    };
    for (step, batch) in batches.enumerate() {
        let (x, y) = batch?;
        if let Some(s) = &options.schedule {
            optimizer.set_lr(s.lr(base_lr, optimizer.steps()))?;
        }
        let out = model.forward(&x)?;
        let batch_loss = totals.add(loss, &out, &y)?;
        // Each penalty term joins the loss in its own one dispatch.
        let mut objective = batch_loss.clone();
        for term in model.penalty_terms()? {
            objective = term.added_to(&objective)?;
        }
        optimizer.zero_grad();
        objective.backward()?;
        optimizer.step()?;
        watch.keep(step + 1, &batch_loss)?;
        bar.inc(x.dims()[0] as u64);
        if let Some((read_at, read)) = in_flight.as_mut() {
            if let Some(sums) = read.try_take()? {
                watch.confirm(*read_at, sums.loss_total)?;
                if bar_every > 0 {
                    bar.set_message(progress_message(&sums.evaluation()));
                }
                in_flight = None;
            }
        }
        let steps = step + 1;
        let due = (bar_every > 0 && steps.is_multiple_of(bar_every)) || watch.due(steps);
        if due && in_flight.is_none() {
            in_flight = Some((steps, totals.read_later()?));
        }
    }
    let sums = totals.read_now()?;
    if let Some((_, mut read)) = in_flight {
        // Its values arrived during that wait; taking them returns its staging buffer.
        read.try_take()?;
    }
    let train_eval = sums.evaluation();
    watch.confirm(usize::MAX, sums.loss_total)?;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(EpochStats {
        epoch,
        loss: train_eval.loss,
        accuracy: train_eval.accuracy,
        val_loss: None,
        val_accuracy: None,
        lr: optimizer.lr(),
        seconds,
        samples_per_second: totals.samples as f64 / seconds.max(1e-9),
    })
}

/// Watches an epoch for NaN and infinities: the epoch's loss total turns non-finite with
/// the first bad loss and stays so, so reading it every `check_every` steps finds any.
/// Each step's loss is copied into its slot of one device tensor as the step is recorded
/// (a buffer copy: the loss's own buffer goes back to the pool, so steps keep binding the
/// same buffers); when a check fails, that tensor and the parameters say where.
struct Divergence<'a> {
    model: &'a dyn Module,
    epoch: usize,
    every: usize,
    /// Step `s`'s loss in slot `s - 1`, when the check is on.
    history: Option<Tensor>,
    /// The last step whose loss total was read finite.
    last_good: usize,
    /// The last step kept.
    kept: usize,
}

impl<'a> Divergence<'a> {
    fn new(
        model: &'a dyn Module,
        options: &FitOptions,
        epoch: usize,
        steps: usize,
        device: &Device,
    ) -> Result<Self> {
        let history = if options.stop_on_non_finite {
            Some(Tensor::zeros(&[steps.max(1)], device)?)
        } else {
            None
        };
        Ok(Divergence {
            model,
            epoch,
            every: options.check_every.max(1),
            history,
            last_good: 0,
            kept: 0,
        })
    }

    /// Keeps step `step`'s loss (from 1), to find the first bad step if a check fails.
    fn keep(&mut self, step: usize, loss: &Tensor) -> Result<()> {
        if let Some(history) = &self.history {
            history.set_element_from(step - 1, loss)?;
            self.kept = step;
        }
        Ok(())
    }

    /// Whether a check is due after step `step`.
    fn due(&self, step: usize) -> bool {
        self.history.is_some() && step.is_multiple_of(self.every)
    }

    /// Checks the loss total read after step `step`. When it is finite, the losses up to
    /// that step are good; when not, finds the first bad step and tensor among the
    /// losses kept since the last good check.
    fn confirm(&mut self, step: usize, loss_total: f32) -> Result<()> {
        let Some(history) = &self.history else {
            return Ok(());
        };
        if loss_total.is_finite() {
            self.last_good = self.last_good.max(step.min(self.kept));
            return Ok(());
        }
        let losses = history.to_vec()?;
        // The first step whose loss is not finite; a bad gradient shows in the next
        // step's loss, through the parameters it updated.
        let first = (self.last_good + 1..=self.kept).find(|s| !losses[s - 1].is_finite());
        let (step, tensor) = match first {
            Some(s) => (s, "the loss"),
            None => (self.kept, "the loss total"),
        };
        let parameters = no_grad(|| -> Result<Vec<String>> {
            let mut bad = Vec::new();
            for (name, p) in self.model.named_parameters() {
                // x·0 is 0 for every finite x, NaN for NaN and ±∞.
                if !p.mul_scalar(0.0)?.sum()?.item()?.is_finite() {
                    bad.push(name);
                }
            }
            Ok(bad)
        })?;
        Err(Error::NonFinite {
            epoch: self.epoch,
            step,
            tensor: tensor.to_string(),
            parameters,
        })
    }
}

/// The progress bar's message: the epoch's loss (and accuracy) so far.
fn progress_message(so_far: &Evaluation) -> String {
    let accuracy = so_far
        .accuracy
        .map(|a| format!(" accuracy {a:.4}"))
        .unwrap_or_default();
    format!("loss {:.4}{accuracy}", so_far.loss)
}

fn progress_bar(
    verbose: bool,
    samples: usize,
    epoch: usize,
    epochs: usize,
) -> indicatif::ProgressBar {
    if !verbose {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(samples as u64);
    let style = indicatif::ProgressStyle::with_template(
        "epoch {prefix} {bar:30} {pos}/{len} samples, {per_sec} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
