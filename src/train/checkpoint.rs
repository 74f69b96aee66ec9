//! Checkpoints: everything `fit` needs to continue a run as if it had never stopped, in
//! one safetensors file written atomically after an epoch. Tensors: the model's parameters
//! and buffers under `model.<name>`, the optimizer's state under
//! `optimizer.<parameter>.<slot>`, and, with early stopping's best weights, `best.<name>`.
//! Metadata: the epoch reached, the optimizer's step count, learning rate and rule, the
//! batch size and seed, the random streams' positions and the history so far.

use super::history::{EpochStats, History};
use crate::error::{Error, Result};
use crate::io::{read_tensors, write_tensors, TensorFile};
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where and how often `fit` writes checkpoints, and whether it resumes from one.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpointing {
    /// The checkpoint file (safetensors), replaced atomically at each write.
    pub path: PathBuf,
    /// Epochs between writes (the last epoch is always written).
    pub every: usize,
    /// Continue from the file when it exists, instead of starting over.
    pub resume: bool,
}

impl Checkpointing {
    /// A checkpoint at `path` after every epoch, resumed from when it exists.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Checkpointing {
            path: path.into(),
            every: 1,
            resume: true,
        }
    }
}

/// The best validation loss so far, its epoch, and the weights then (when kept).
pub(crate) type Best = (f32, usize, Option<Vec<Tensor>>);

/// Where a run stands after an epoch.
pub(crate) struct Progress<'a> {
    pub(crate) epoch: usize,
    pub(crate) history: &'a History,
    pub(crate) finished: bool,
    pub(crate) best: Option<&'a Best>,
    pub(crate) batch_size: usize,
    pub(crate) seed: u64,
}

/// What a checkpoint gives back to `fit`.
pub(crate) struct Resumed {
    pub(crate) epoch: usize,
    pub(crate) history: History,
    pub(crate) finished: bool,
    pub(crate) best: Option<Best>,
}

use crate::io::CHECKPOINT_FORMAT as FORMAT;

fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named
        .into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect()
}

/// The optimizer's state tensors named `<parameter>.<slot>`.
fn optimizer_state(model: &dyn Module, optimizer: &mut Optimizer) -> Result<Vec<(String, Tensor)>> {
    let parameters = model.named_parameters();
    if parameters.len() != optimizer.params().len() {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "the optimizer must hold the model's {} parameters, it holds {}",
                parameters.len(),
                optimizer.params().len()
            ),
        ));
    }
    let stranger = parameters
        .iter()
        .zip(optimizer.params())
        .position(|((_, ours), theirs)| !ours.is_same_tensor(theirs));
    if let Some(i) = stranger {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "the optimizer's parameter {i} is not the model's {}: build the optimizer \
                 from model.parameters(), in that order",
                parameters[i].0
            ),
        ));
    }
    let names: Vec<String> = parameters.into_iter().map(|(n, _)| n).collect();
    let slots = optimizer.rule().state_names();
    let state = optimizer.full_state()?;
    Ok(names
        .iter()
        .zip(state)
        .flat_map(|(name, tensors)| {
            slots
                .iter()
                .zip(tensors)
                .map(move |(slot, t)| (format!("{name}.{slot}"), t))
        })
        .collect())
}

/// Writes a checkpoint of `model`, `optimizer` and `progress` to `path`, atomically.
pub(crate) fn save(
    path: &Path,
    model: &dyn Module,
    optimizer: &mut Optimizer,
    progress: &Progress,
) -> Result<()> {
    let mut tensors = prefixed("model.", crate::io::state(model));
    tensors.extend(prefixed("optimizer.", optimizer_state(model, optimizer)?));
    if let Some((_, _, Some(weights))) = progress.best {
        let names = model.named_parameters().into_iter().map(|(n, _)| n);
        tensors.extend(
            names
                .zip(weights.iter().cloned())
                .map(|(n, t)| (format!("best.{n}"), t)),
        );
    }
    let mut meta = HashMap::new();
    let mut put = |key: &str, value: String| meta.insert(key.to_string(), value);
    put("format", "pt".into());
    put(FORMAT, "1".into());
    put("epoch", progress.epoch.to_string());
    put("finished", progress.finished.to_string());
    put("steps", optimizer.steps().to_string());
    put("lr", optimizer.lr().to_string());
    put("rule", format!("{:?}", optimizer.rule()));
    put("batch_size", progress.batch_size.to_string());
    put("seed", progress.seed.to_string());
    put("history", progress.history.to_records());
    if let Some((loss, epoch, _)) = progress.best {
        put("best", format!("{loss} {epoch}"));
    }
    let streams: Vec<String> = model
        .named_seed_streams()
        .iter()
        .map(|(name, s)| {
            let [seed, calls] = s.state();
            format!("{name} {seed} {calls}")
        })
        .collect();
    put("seed_streams", streams.join("\n"));
    write_tensors(path, &tensors, meta)
}

/// A metadata entry, parsed.
fn entry<T: std::str::FromStr>(file: &TensorFile, path: &Path, key: &str) -> Result<T> {
    let text = file.metadata.get(key).map(String::as_str).unwrap_or("");
    text.parse().map_err(|_| {
        Error::data(
            path.display(),
            format!("checkpoint entry {key} should be a number, found {text:?}"),
        )
    })
}

/// Restores `model` and `optimizer` from the checkpoint at `path`, after checking that it
/// was written by a run with the same model, rule, batch size and seed. Nothing is changed
/// when any check fails.
pub(crate) fn load(
    path: &Path,
    model: &dyn Module,
    optimizer: &mut Optimizer,
    batch_size: usize,
    seed: u64,
) -> Result<Resumed> {
    let file = read_tensors(path)?;
    let fail = |message: String| Error::data(path.display(), message);
    if file.metadata.get(FORMAT).map(String::as_str) != Some("1") {
        return Err(fail(format!(
            "not a wgnn checkpoint (no {FORMAT} entry); a saved model loads with wgnn::io::load"
        )));
    }
    let rule = format!("{:?}", optimizer.rule());
    let saved_rule = file.metadata.get("rule").cloned().unwrap_or_default();
    if saved_rule != rule {
        return Err(fail(format!(
            "written with the optimizer {saved_rule}, but this run uses {rule}"
        )));
    }
    for (key, now) in [("batch_size", batch_size as u64), ("seed", seed)] {
        let then: u64 = entry(&file, path, key)?;
        if then != now {
            return Err(fail(format!(
                "written by a run with {key} {then}, but this run has {key} {now}: a resumed run \
                 must use the same settings to give the same result"
            )));
        }
    }
    let history = History::from_records(file.metadata.get("history").map_or("", |s| s))
        .ok_or_else(|| fail("its history entry is malformed".into()))?;
    let streams = parse_streams(&file, model).ok_or_else(|| {
        fail("its seed_streams entry does not match the model's random layers".into())
    })?;
    let best = match file.metadata.get("best") {
        None => None,
        Some(text) => Some(
            text.split_once(' ')
                .and_then(|(l, e)| Some((l.parse::<f32>().ok()?, e.parse::<usize>().ok()?)))
                .ok_or_else(|| fail(format!("its best entry is malformed: {text:?}")))?,
        ),
    };
    let epoch: usize = entry(&file, path, "epoch")?;
    let steps: u64 = entry(&file, path, "steps")?;
    let lr: f32 = entry(&file, path, "lr")?;
    let finished = file.metadata.get("finished").is_some_and(|f| f == "true");

    // Every tensor is checked before any is copied: model, optimizer, best weights.
    let mut targets = prefixed("model.", crate::io::state(model));
    targets.extend(prefixed("optimizer.", optimizer_state(model, optimizer)?));
    let best_weights = match best {
        Some(_) if file.tensors.keys().any(|k| k.starts_with("best.")) => {
            let copies: Vec<(String, Tensor)> = model
                .named_parameters()
                .into_iter()
                .map(|(n, p)| Ok((format!("best.{n}"), p.zeros_like()?)))
                .collect::<Result<_>>()?;
            targets.extend(copies.iter().cloned());
            Some(copies.into_iter().map(|(_, t)| t).collect())
        }
        _ => None,
    };
    crate::io::assign(&targets, &file.tensors, "", &path.display())?;
    optimizer.set_steps(steps);
    optimizer.set_lr(lr)?;
    for (stream, state) in model.named_seed_streams().iter().zip(streams) {
        stream.1.set_state(state);
    }
    Ok(Resumed {
        epoch,
        history,
        finished,
        best: best.map(|(loss, epoch)| (loss, epoch, best_weights)),
    })
}

/// The saved positions of the model's random streams, in the model's order, when the
/// names agree.
fn parse_streams(file: &TensorFile, model: &dyn Module) -> Option<Vec<[u64; 2]>> {
    let text = file.metadata.get("seed_streams")?;
    let saved: Vec<(&str, [u64; 2])> = text
        .lines()
        .map(|line| {
            let mut parts = line.split(' ');
            let name = parts.next()?;
            let seed = parts.next()?.parse().ok()?;
            let calls = parts.next()?.parse().ok()?;
            Some((name, [seed, calls]))
        })
        .collect::<Option<_>>()?;
    let names = model.named_seed_streams();
    let agree =
        saved.len() == names.len() && saved.iter().zip(&names).all(|((a, _), (b, _))| a == b);
    agree.then(|| saved.into_iter().map(|(_, s)| s).collect())
}

impl History {
    /// One line per epoch, every figure in Rust's exact round-trip notation.
    pub(crate) fn to_records(&self) -> String {
        self.epochs
            .iter()
            .map(EpochStats::to_record)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The history `to_records` wrote, or None when a line is malformed.
    pub(crate) fn from_records(text: &str) -> Option<History> {
        let epochs = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(EpochStats::from_record)
            .collect::<Option<_>>()?;
        Some(History {
            epochs,
            ..History::default()
        })
    }
}

fn optional(v: Option<f32>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn parse_optional(text: &str) -> Option<Option<f32>> {
    match text {
        "-" => Some(None),
        t => t.parse().ok().map(Some),
    }
}

impl EpochStats {
    fn to_record(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.epoch,
            self.loss,
            optional(self.accuracy),
            optional(self.val_loss),
            optional(self.val_accuracy),
            self.lr,
            self.seconds,
            self.samples_per_second
        )
    }

    fn from_record(line: &str) -> Option<EpochStats> {
        let f: Vec<&str> = line.split(' ').collect();
        let [epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, rate] = f[..] else {
            return None;
        };
        Some(EpochStats {
            epoch: epoch.parse().ok()?,
            loss: loss.parse().ok()?,
            accuracy: parse_optional(accuracy)?,
            val_loss: parse_optional(val_loss)?,
            val_accuracy: parse_optional(val_accuracy)?,
            lr: lr.parse().ok()?,
            seconds: seconds.parse().ok()?,
            samples_per_second: rate.parse().ok()?,
        })
    }
}
