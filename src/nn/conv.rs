//! Convolution and pooling layers over (N, C, H, W) batches: Conv2d, MaxPool2d, AvgPool2d.

use super::{weights::Weights, Dropout, Init, Module, PenaltyTerm, Regularizer};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::{Conv2dOptions, Epilogue, Pool2dOptions};
use crate::tensor::Tensor;

/// 2-D convolution with a (out, in, KH, KW) weight and an optional bias.
pub struct Conv2d {
    weights: Weights,
    options: Conv2dOptions,
}

impl Conv2d {
    /// A 'valid' stride-1 convolution with He-uniform weights (fan_in = in·KH·KW) and a
    /// zero bias.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        device: &Device,
    ) -> Result<Conv2d> {
        Conv2d::with_init(
            in_channels,
            out_channels,
            kernel,
            Init::HeUniform,
            true,
            device,
        )
    }

    /// A convolution with the given weight initialiser, with or without a (zero) bias.
    pub fn with_init(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        init: Init,
        bias: bool,
        device: &Device,
    ) -> Result<Conv2d> {
        if in_channels == 0 || out_channels == 0 || kernel.contains(&0) {
            return Err(Error::invalid(
                "Conv2d",
                format!(
                    "channels and kernel sizes must be > 0, got {in_channels} -> {out_channels}, kernel {kernel:?}"
                ),
            ));
        }
        let taps = kernel[0] * kernel[1];
        let weights = Weights::new(
            &[out_channels, in_channels, kernel[0], kernel[1]],
            in_channels * taps,
            out_channels * taps,
            out_channels,
            init,
            bias,
            device,
        )?;
        Ok(Conv2d {
            weights,
            options: Conv2dOptions::default(),
        })
    }

    /// The same layer with another stride, padding or dilation.
    pub fn with_options(mut self, options: Conv2dOptions) -> Self {
        self.options = options;
        self
    }

    /// The same layer with 'same' padding (odd kernels only): the output keeps the
    /// input's height and width.
    pub fn with_same_padding(self) -> Result<Self> {
        let dims = self.weight().dims();
        let options = Conv2dOptions::same([dims[2], dims[3]], self.options.dilation)?;
        Ok(self.with_options(options))
    }

    /// Adds an L1/L2 penalty on the weights (not the bias) to [`Module::penalty`].
    pub fn with_weight_regularizer(mut self, r: Regularizer) -> Result<Self> {
        self.weights.regularize(r)?;
        Ok(self)
    }

    /// The weight (out, in, KH, KW).
    pub fn weight(&self) -> &Tensor {
        &self.weights.weight
    }

    /// The bias (out), if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.weights.bias.as_ref()
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(self.weight(), self.bias(), self.options)
    }

    fn forward_then(&self, x: &Tensor, epilogue: Epilogue) -> Option<Result<Tensor>> {
        Some(x.conv2d_with(self.weight(), self.bias(), self.options, Some(epilogue)))
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.weights.named_parameters()
    }

    fn penalty_terms(&self) -> Result<Vec<PenaltyTerm>> {
        Ok(self.weights.penalty_term().into_iter().collect())
    }

    fn describe(&self) -> String {
        let d = self.weight().dims();
        let o = &self.options;
        format!(
            "Conv2d({} -> {}, {}x{}, stride {:?}, padding {:?}, dilation {:?})",
            d[1], d[0], d[2], d[3], o.stride, o.padding, o.dilation
        )
    }
}

/// 2-D max pooling; the gradient goes to each window's arg-max.
pub struct MaxPool2d(pub Pool2dOptions);

impl MaxPool2d {
    /// Non-overlapping `kernel` windows (stride = kernel, no padding), as Keras'
    /// MaxPooling2D(pool_size).
    pub fn new(kernel: [usize; 2]) -> Self {
        MaxPool2d(Pool2dOptions::new(kernel))
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.max_pool2d(self.0)
    }

    fn forward_then_dropout(&self, x: &Tensor, dropout: &Dropout) -> Option<Result<Tensor>> {
        Some(match dropout.draw() {
            Some((p, seed)) => x.max_pool2d_dropout(self.0, p, seed),
            None => x.max_pool2d(self.0),
        })
    }

    fn describe(&self) -> String {
        describe_pool("MaxPool2d", &self.0)
    }
}

/// 2-D average pooling (padding not counted in the average).
pub struct AvgPool2d(pub Pool2dOptions);

impl AvgPool2d {
    /// Non-overlapping `kernel` windows (stride = kernel, no padding).
    pub fn new(kernel: [usize; 2]) -> Self {
        AvgPool2d(Pool2dOptions::new(kernel))
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.avg_pool2d(self.0)
    }

    fn forward_then_dropout(&self, x: &Tensor, dropout: &Dropout) -> Option<Result<Tensor>> {
        Some(match dropout.draw() {
            Some((p, seed)) => x.avg_pool2d_dropout(self.0, p, seed),
            None => x.avg_pool2d(self.0),
        })
    }

    fn describe(&self) -> String {
        describe_pool("AvgPool2d", &self.0)
    }
}

fn describe_pool(name: &str, o: &Pool2dOptions) -> String {
    format!(
        "{name}({}x{}, stride {:?}, padding {:?})",
        o.kernel[0], o.kernel[1], o.stride, o.padding
    )
}
