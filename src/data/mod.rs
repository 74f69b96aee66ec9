//! Data: datasets that live on the training device, shuffled batch iteration, the MNIST
//! IDX reader and downloader, the course's synthetic sets, and reading a picture of a digit.

mod digit;
mod idx;
mod mnist;
pub mod synthetic;

pub use digit::read_digit;
pub use idx::{decode_idx, parse_idx, read_idx, Idx};
pub use mnist::{Mnist, MnistSplit, MNIST_FILES};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::gather::{gather_batch, SampleRows};
use crate::tensor::{ByteTensor, Tensor};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::sync::Arc;

#[derive(Clone)]
enum Inputs {
    /// f32 samples, shape (N, sample dims...).
    F32(Tensor),
    /// u8 samples scaled to f32 when a batch is gathered.
    U8 { bytes: ByteTensor, scale: f32 },
}

/// Samples and targets on one device, with the subset of rows this view covers. Views
/// made by [`Dataset::split`] and [`Dataset::take`] share the device memory.
#[derive(Clone)]
pub struct Dataset {
    inputs: Inputs,
    targets: Tensor,
    sample_dims: Vec<usize>,
    rows: Arc<[u32]>,
}

/// How a target tensor is laid out: class labels (N) or target vectors (N, k).
fn check_targets(n: usize, targets: &Tensor) -> Result<()> {
    if targets.rank() == 0 || targets.dims()[0] != n {
        return Err(Error::shape(
            "dataset",
            format!("targets with {n} rows"),
            format!("{}", targets.shape()),
        ));
    }
    Ok(())
}

impl Dataset {
    /// A dataset of f32 samples (N, ...) and targets (N) or (N, k) on one device.
    pub fn from_tensors(inputs: Tensor, targets: Tensor) -> Result<Dataset> {
        Tensor::common_device("dataset", &[&inputs, &targets])?;
        let Some((&n, sample_dims)) = inputs.dims().split_first() else {
            return Err(Error::shape(
                "dataset",
                "inputs of shape (N, ...)",
                "a scalar",
            ));
        };
        check_targets(n, &targets)?;
        Ok(Dataset {
            sample_dims: sample_dims.to_vec(),
            inputs: Inputs::F32(inputs.detach()),
            targets: targets.detach(),
            rows: (0..n as u32).collect(),
        })
    }

    /// A dataset of u8 samples of `sample_dims` each, turned into f32 times `scale` as
    /// batches are gathered (MNIST: scale 1/255).
    pub fn from_bytes(
        bytes: ByteTensor,
        sample_dims: &[usize],
        scale: f32,
        targets: Tensor,
    ) -> Result<Dataset> {
        let per_sample: usize = sample_dims.iter().product();
        if per_sample == 0 || !bytes.len().is_multiple_of(per_sample) {
            return Err(Error::shape(
                "dataset",
                format!("samples of {sample_dims:?} dividing {} bytes", bytes.len()),
                format!("{sample_dims:?}"),
            ));
        }
        let n = bytes.len() / per_sample;
        if !bytes.device().same_as(targets.device()) {
            return Err(Error::DeviceMismatch {
                op: "dataset",
                expected: bytes.device().to_string(),
                got: targets.device().to_string(),
            });
        }
        check_targets(n, &targets)?;
        Ok(Dataset {
            sample_dims: sample_dims.to_vec(),
            inputs: Inputs::U8 { bytes, scale },
            targets: targets.detach(),
            rows: (0..n as u32).collect(),
        })
    }

    /// Number of samples in this view.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the view has no samples.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The shape of one sample.
    pub fn sample_dims(&self) -> &[usize] {
        &self.sample_dims
    }

    /// The device holding the data.
    pub fn device(&self) -> &Device {
        self.targets.device()
    }

    /// The first `n` samples (all of them if fewer).
    pub fn take(&self, n: usize) -> Dataset {
        Dataset {
            rows: self.rows[..n.min(self.len())].into(),
            ..self.clone()
        }
    }

    /// Splits off the last `fraction` of the samples (before any shuffling, as Keras'
    /// `validation_split` does): (training part, validation part).
    pub fn split(&self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Error::invalid(
                "split",
                format!("the fraction must be in (0, 1), got {fraction}"),
            ));
        }
        let held = ((self.len() as f32) * fraction).round() as usize;
        let keep = self.len() - held;
        if held == 0 || keep == 0 {
            return Err(Error::invalid(
                "split",
                format!(
                    "a fraction of {fraction} of {} samples leaves one side empty",
                    self.len()
                ),
            ));
        }
        Ok((
            Dataset {
                rows: self.rows[..keep].into(),
                ..self.clone()
            },
            Dataset {
                rows: self.rows[keep..].into(),
                ..self.clone()
            },
        ))
    }

    /// The order of one pass: this view's rows, shuffled with `seed` when given, as an f32
    /// index tensor on the device (uploaded once per pass).
    pub fn order(&self, shuffle: Option<u64>) -> Result<Tensor> {
        let mut rows = self.rows.to_vec();
        if let Some(seed) = shuffle {
            rows.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        let as_f32 = rows.into_iter().map(|r| r as f32).collect::<Vec<_>>();
        Tensor::from_vec(as_f32, &[self.len()], self.device())
    }

    /// Samples and targets of positions [start, start + count) of `order`.
    pub fn batch(&self, order: &Tensor, start: usize, count: usize) -> Result<(Tensor, Tensor)> {
        let samples = match &self.inputs {
            Inputs::F32(t) => SampleRows::F32(t),
            Inputs::U8 { bytes, scale } => SampleRows::U8 {
                bytes,
                row_dims: &self.sample_dims,
                scale: *scale,
            },
        };
        gather_batch(samples, &self.targets, order, start, count)
    }

    /// Batches of one pass: `batch_size` samples each (the last one smaller unless
    /// `drop_last`), shuffled with `shuffle`'s seed when given.
    pub fn batches(
        &self,
        batch_size: usize,
        shuffle: Option<u64>,
        drop_last: bool,
    ) -> Result<Batches<'_>> {
        if batch_size == 0 {
            return Err(Error::invalid(
                "batches",
                "the batch size must be at least 1, got 0",
            ));
        }
        let end = if drop_last {
            self.len() / batch_size * batch_size
        } else {
            self.len()
        };
        Ok(Batches {
            data: self,
            order: self.order(shuffle)?,
            batch_size,
            position: 0,
            end,
        })
    }
}

/// An iterator over one pass of batches, each `Result<(inputs, targets)>`.
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Tensor,
    batch_size: usize,
    position: usize,
    end: usize,
}

impl Batches<'_> {
    /// Number of batches in the pass.
    pub fn batch_count(&self) -> usize {
        self.end.div_ceil(self.batch_size)
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.end {
            return None;
        }
        let count = self.batch_size.min(self.end - self.position);
        let batch = self.data.batch(&self.order, self.position, count);
        self.position += count;
        Some(batch)
    }
}
