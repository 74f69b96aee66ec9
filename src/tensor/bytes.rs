//! Raw bytes on a device: u8 datasets (MNIST images) stay compact on the GPU and are
//! turned into f32 batches by the gather kernel.

use crate::device::{Device, GpuBuffer};
use crate::error::Result;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) enum ByteStorage {
    Cpu(Arc<Vec<u8>>),
    Gpu(Arc<GpuBuffer>),
}

/// An immutable byte array on a device.
#[derive(Clone)]
pub struct ByteTensor {
    len: usize,
    pub(crate) storage: ByteStorage,
    device: Device,
}

impl ByteTensor {
    /// Moves `data` to `device`.
    pub fn from_bytes(data: Vec<u8>, device: &Device) -> Result<ByteTensor> {
        let len = data.len();
        let storage = match device {
            Device::Cpu => ByteStorage::Cpu(Arc::new(data)),
            Device::Gpu(ctx) => ByteStorage::Gpu(Arc::new(ctx.upload_bytes(&data)?)),
        };
        Ok(ByteTensor {
            len,
            storage,
            device: device.clone(),
        })
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device holding the bytes.
    pub fn device(&self) -> &Device {
        &self.device
    }
}
