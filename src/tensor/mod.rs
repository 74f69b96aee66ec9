//! Tensor: a shape, a storage handle on one device, and (when it takes part in autograd)
//! a link into the tape.

mod bytes;
mod create;
mod read;
mod storage;

pub(crate) use bytes::ByteStorage;
pub use bytes::ByteTensor;
pub use read::LaterRead;
pub(crate) mod host_pool;
pub(crate) use storage::Storage;

use crate::autograd::GradLink;
use crate::device::{Device, GpuBuffer};
use crate::error::{Error, Result};
use crate::shape::Shape;
use std::fmt;
use std::sync::{Arc, RwLockReadGuard};

/// An n-dimensional array of f32 (rank 0 to 4, contiguous, row-major) on a CPU or GPU
/// device. Cloning is cheap and shares the storage.
///
/// ```
/// use wgnn::{Device, Tensor};
///
/// # fn main() -> wgnn::Result<()> {
/// let device = Device::cpu(); // Device::gpu()? for the GPU: the same code runs there
/// let a = Tensor::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3], &device)?;
/// let b = Tensor::ones(&[3, 2], &device)?;
/// let c = a.matmul(&b)?.relu()?; // (2, 2)
/// assert_eq!(c.dims(), &[2, 2]);
/// assert_eq!(c.to_vec()?, vec![6., 6., 15., 15.]);
/// // Mistakes are errors that say what was expected, never panics.
/// assert!(a.matmul(&a).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

pub(crate) struct TensorInner {
    pub(crate) shape: Shape,
    pub(crate) storage: Storage,
    pub(crate) device: Device,
    pub(crate) grad: Option<GradLink>,
}

impl Tensor {
    /// Wraps freshly computed storage (no autograd link).
    pub(crate) fn from_storage(shape: Shape, storage: Storage, device: Device) -> Tensor {
        Tensor(Arc::new(TensorInner {
            shape,
            storage,
            device,
            grad: None,
        }))
    }

    /// A CPU tensor over `data`.
    pub(crate) fn from_cpu(shape: Shape, data: Vec<f32>) -> Tensor {
        Tensor::from_storage(shape, Storage::cpu(data), Device::Cpu)
    }

    /// A GPU tensor over `buffer`.
    pub(crate) fn from_gpu(shape: Shape, buffer: GpuBuffer, device: &Device) -> Tensor {
        Tensor::from_storage(shape, Storage::Gpu(Arc::new(buffer)), device.clone())
    }

    /// The same storage and shape with another autograd link.
    pub(crate) fn with_grad_link(&self, link: Option<GradLink>) -> Tensor {
        Tensor(Arc::new(TensorInner {
            shape: self.0.shape.clone(),
            storage: self.0.storage.clone(),
            device: self.0.device.clone(),
            grad: link,
        }))
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// Whether `other` is this very tensor (a clone of the same handle), not merely equal.
    pub fn is_same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.0.shape.dims()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.numel()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.shape.rank()
    }

    /// The device holding the data.
    pub fn device(&self) -> &Device {
        &self.0.device
    }

    /// The CPU data (only for CPU tensors; ops check the device first).
    pub(crate) fn cpu_data(&self) -> RwLockReadGuard<'_, Vec<f32>> {
        self.0.storage.cpu_read()
    }

    /// The GPU buffer (only for GPU tensors; ops check the device first).
    pub(crate) fn gpu_buffer(&self) -> &GpuBuffer {
        self.0.storage.gpu()
    }

    /// Copies the values to a `Vec` (waits for the GPU).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        match &self.0.device {
            Device::Cpu => Ok(self.cpu_data().clone()),
            Device::Gpu(ctx) => ctx.read(self.gpu_buffer(), self.numel()),
        }
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                "a tensor with exactly one element",
                format!("{}", self.shape()),
            ));
        }
        Ok(self.to_vec()?[0])
    }

    /// A copy on `device` (the same tensor if already there). Not differentiable.
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if self.device().same_as(device) {
            return Ok(self.clone());
        }
        Tensor::from_vec(self.to_vec()?, self.dims(), device)
    }

    /// The same data viewed with another shape of equal element count.
    pub fn reshape(&self, dims: &[usize]) -> Result<Tensor> {
        let shape = Shape::new(dims)?;
        if shape.numel() != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "a shape with {} elements (from {})",
                    self.numel(),
                    self.shape()
                ),
                format!("{shape} with {} elements", shape.numel()),
            ));
        }
        let out = Tensor::from_storage(shape, self.0.storage.clone(), self.device().clone());
        let from = self.dims().to_vec();
        Ok(crate::autograd::record("reshape", out, &[self], move |g| {
            Ok(vec![Some(g.reshape(&from)?)])
        }))
    }

    /// Checks that every tensor is on the first one's device, and returns that device.
    pub(crate) fn common_device(op: &'static str, tensors: &[&Tensor]) -> Result<Device> {
        let first = tensors[0].device();
        for t in &tensors[1..] {
            if !t.device().same_as(first) {
                return Err(Error::DeviceMismatch {
                    op,
                    expected: first.to_string(),
                    got: t.device().to_string(),
                });
            }
        }
        Ok(first.clone())
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(shape={}, device={}, requires_grad={})",
            self.shape(),
            self.device(),
            self.requires_grad()
        )
    }
}
