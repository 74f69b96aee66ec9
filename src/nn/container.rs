//! Containers and shape layers: Sequential, Residual, Flatten.

use super::{Module, PenaltyTerm, SeedStream};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Layers applied in order. Parameter names are prefixed by the layer's index
/// (`0.weight`, `0.bias`, `2.weight`, ...), as in PyTorch. A layer followed by an
/// activation it can apply in its own kernel (Linear or Conv2d, then ReLU, sigmoid, ...)
/// runs as one fused op: one GPU dispatch instead of three (product, bias, activation);
/// a Dropout after that activation joins a Linear's kernel too, and a pooling layer
/// followed by Dropout is one dispatch each way instead of two.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty model.
    pub fn new() -> Self {
        Sequential::default()
    }

    /// Appends a layer (Keras' `model.add`).
    #[allow(clippy::should_implement_trait)] // the Keras name, not arithmetic
    pub fn add(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }

    /// `named` of every layer, prefixed by the layer's index.
    fn prefixed<'a, T>(
        &'a self,
        named: impl Fn(&'a dyn Module) -> Vec<(String, T)>,
    ) -> Vec<(String, T)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| {
                named(layer.as_ref())
                    .into_iter()
                    .map(move |(name, t)| (format!("{i}.{name}"), t))
            })
            .collect()
    }
}

/// `layer`'s forward fused with the layers after it that it applies in its own kernels:
/// an activation, then a dropout, or a dropout alone. The output and how many of `after`
/// it took; None when it fuses none.
fn fused_forward(
    layer: &dyn Module,
    x: &Tensor,
    after: &[Box<dyn Module>],
) -> Option<(Result<Tensor>, usize)> {
    let next = after.first()?;
    if let Some(epilogue) = next.as_epilogue() {
        let dropout = after.get(1).and_then(|d| d.as_dropout());
        if let Some(out) =
            dropout.and_then(|d| layer.forward_then_activation_dropout(x, epilogue, d))
        {
            return Some((out, 2));
        }
        return layer.forward_then(x, epilogue).map(|out| (out, 1));
    }
    let out = layer.forward_then_dropout(x, next.as_dropout()?)?;
    Some((out, 1))
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        let mut rest = self.layers.as_slice();
        while let [layer, after @ ..] = rest {
            match fused_forward(layer.as_ref(), &y, after) {
                Some((out, taken)) => {
                    y = out?;
                    rest = &after[taken..];
                }
                None => {
                    y = layer.forward(&y)?;
                    rest = after;
                }
            }
        }
        Ok(y)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.prefixed(|layer| layer.named_parameters())
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.prefixed(|layer| layer.named_buffers())
    }

    fn named_seed_streams(&self) -> Vec<(String, &SeedStream)> {
        self.prefixed(|layer| layer.named_seed_streams())
    }

    fn set_training(&self, training: bool) {
        self.layers.iter().for_each(|l| l.set_training(training));
    }

    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        let mut terms = Vec::new();
        for layer in &self.layers {
            terms.extend(layer.penalty_terms()?);
        }
        Ok(terms)
    }

    fn describe(&self) -> String {
        let inner: Vec<String> = self.layers.iter().map(|l| l.describe()).collect();
        format!("Sequential[{}]", inner.join(", "))
    }
}

/// x + f(x): a residual (skip) connection around a module with matching shapes.
pub struct Residual<M: Module>(pub M);

impl<M: Module> Module for Residual<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let fx = self.0.forward(x)?;
        if fx.shape() != x.shape() {
            return Err(Error::shape(
                "Residual",
                format!("the inner module to keep the shape {}", x.shape()),
                format!("{}", fx.shape()),
            ));
        }
        x.add(&fx)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.0.named_parameters()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.0.named_buffers()
    }

    fn named_seed_streams(&self) -> Vec<(String, &SeedStream)> {
        self.0.named_seed_streams()
    }

    fn set_training(&self, training: bool) {
        self.0.set_training(training);
    }

    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        self.0.penalty_terms()
    }

    fn describe(&self) -> String {
        format!("Residual({})", self.0.describe())
    }
}

/// Flattens every axis after the first: (N, ...) → (N, product).
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match x.dims() {
            [] => Err(Error::shape("Flatten", "a tensor of rank >= 1", "a scalar")),
            [n, rest @ ..] => x.reshape(&[*n, rest.iter().product()]),
        }
    }

    fn describe(&self) -> String {
        "Flatten".into()
    }
}
