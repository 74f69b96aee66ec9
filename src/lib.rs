//! wgnn trains neural networks on any GPU through wgpu, with a CPU path behind the same
//! API. See the README for the architecture.

#![warn(missing_docs)]

pub mod autograd;
pub mod device;
mod error;
pub mod ops;
mod shape;
mod tensor;

pub use autograd::{no_grad, NoGradGuard};
pub use device::Device;
pub use error::{Error, Result};
pub use shape::{Shape, MAX_RANK};
pub use tensor::Tensor;
