//! A Keras-style model summary: each layer with its output shape and parameter count.

use super::{Module, Sequential};
use crate::autograd::no_grad;
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;
use std::fmt;

/// One layer's line of a [`Summary`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// The layer's index and description, such as `0 Linear(784 -> 64)`.
    pub layer: String,
    /// Its output shape for one sample, without the batch axis.
    pub output_dims: Vec<usize>,
    /// Its trainable parameters.
    pub parameters: usize,
    /// Its non-trainable values (batch norm's running statistics).
    pub buffers: usize,
}

/// What `model.summary()` prints in Keras.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// One entry per layer, in order.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// Trainable parameters of the whole model.
    pub fn trainable(&self) -> usize {
        self.layers.iter().map(|l| l.parameters).sum()
    }

    /// Non-trainable values of the whole model.
    pub fn non_trainable(&self) -> usize {
        self.layers.iter().map(|l| l.buffers).sum()
    }
}

fn count(named: Vec<(String, Tensor)>) -> usize {
    named.iter().map(|(_, t)| t.numel()).sum()
}

impl Sequential {
    /// The summary of this model for samples of shape `sample_dims` (without the batch
    /// axis), found by running one zero sample through it in evaluation mode, with the
    /// autotuner paused (a batch of one is no shape to tune for).
    pub fn summary(&self, sample_dims: &[usize]) -> Result<Summary> {
        let device = self
            .named_parameters()
            .first()
            .map_or(Device::Cpu, |(_, p)| p.device().clone());
        let mut dims = vec![1];
        dims.extend_from_slice(sample_dims);
        self.set_training(false);
        let layers = device.without_tuning(|| {
            no_grad(|| {
                let mut x = Tensor::zeros(&dims, &device)?;
                let mut layers = Vec::new();
                for (i, layer) in self.layers().iter().enumerate() {
                    x = layer.forward(&x)?;
                    layers.push(LayerSummary {
                        layer: format!("{i} {}", layer.describe()),
                        output_dims: x.dims()[1..].to_vec(),
                        parameters: count(layer.named_parameters()),
                        buffers: count(layer.named_buffers()),
                    });
                }
                Ok(layers)
            })
        });
        self.set_training(true);
        Ok(Summary { layers: layers? })
    }
}

/// 1234567 → "1,234,567".
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = |d: &[usize]| {
            let inner: Vec<String> = d.iter().map(usize::to_string).collect();
            format!("(None, {})", inner.join(", "))
        };
        let name_width = self
            .layers
            .iter()
            .map(|l| l.layer.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12)
            + 2;
        let rule = |f: &mut fmt::Formatter<'_>, c: char| {
            writeln!(f, "{}", c.to_string().repeat(name_width + 36))
        };
        writeln!(
            f,
            "{:<name_width$}{:<24}{:>12}",
            "Layer (type)", "Output Shape", "Param #"
        )?;
        rule(f, '=')?;
        for l in &self.layers {
            let values = grouped(l.parameters + l.buffers);
            let out = shape(&l.output_dims);
            writeln!(f, "{:<name_width$}{out:<24}{values:>12}", l.layer)?;
        }
        rule(f, '=')?;
        let (trainable, fixed) = (self.trainable(), self.non_trainable());
        writeln!(f, "Total params: {}", grouped(trainable + fixed))?;
        writeln!(f, "Trainable params: {}", grouped(trainable))?;
        writeln!(f, "Non-trainable params: {}", grouped(fixed))
    }
}
