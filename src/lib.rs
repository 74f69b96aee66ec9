//! wgnn trains neural networks on any GPU through wgpu, with a CPU path behind the same
//! API. See the README for the architecture.
//!
//! ```
//! use wgnn::{Device, Tensor};
//!
//! # fn main() -> wgnn::Result<()> {
//! let device = Device::cpu(); // or Device::gpu()?, or Device::best()
//! let x = Tensor::uniform(&[8, 4], -1.0, 1.0, 0, &device)?;
//! let w = Tensor::normal(&[4, 3], 0.0, 0.5, 1, &device)?.requires_grad_();
//! let labels = Tensor::from_vec(vec![0., 1., 2., 0., 1., 2., 0., 1.], &[8], &device)?;
//! let loss = x.matmul(&w)?.relu()?.cross_entropy(&labels)?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().dims(), &[4, 3]);
//! assert!(loss.item()?.is_finite());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod autograd;
pub mod data;
pub mod device;
mod error;
pub mod io;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod profile;
mod shape;
mod tensor;
pub mod train;

pub use autograd::{no_grad, NoGradGuard};
pub use device::Device;
pub use error::{Error, Result};
pub use shape::{Shape, MAX_RANK};
pub use tensor::{ByteTensor, LaterRead, Tensor};
/// The wgpu this build uses, for naming its types ([`device::GpuOptions`] takes
/// `wgpu::Features`) without a second, mismatched copy.
pub use wgpu;
