//! Where a tensor's values live.

use crate::device::GpuBuffer;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shared, reference-counted storage. Values are immutable once computed, except
/// parameters that optimizers update in place.
#[derive(Clone)]
pub(crate) enum Storage {
    /// Host memory for the CPU path.
    Cpu(Arc<HostValues>),
    /// A pooled GPU buffer (at least as large as the tensor).
    Gpu(Arc<GpuBuffer>),
}

/// A CPU tensor's values; they go back to the host pool when the last tensor sharing
/// them is dropped.
pub(crate) struct HostValues(RwLock<Vec<f32>>);

impl Drop for HostValues {
    fn drop(&mut self) {
        let values = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        super::host_pool::give_back(std::mem::take(values));
    }
}

impl Storage {
    pub(crate) fn cpu(data: Vec<f32>) -> Storage {
        Storage::Cpu(Arc::new(HostValues(RwLock::new(data))))
    }

    pub(crate) fn cpu_read(&self) -> RwLockReadGuard<'_, Vec<f32>> {
        match self {
            Storage::Cpu(data) => data.0.read().unwrap_or_else(|e| e.into_inner()),
            Storage::Gpu(_) => panic!("wgnn bug: CPU access to a GPU tensor"),
        }
    }

    /// Write access for in-place parameter updates on the CPU path.
    pub(crate) fn cpu_write(&self) -> RwLockWriteGuard<'_, Vec<f32>> {
        match self {
            Storage::Cpu(data) => data.0.write().unwrap_or_else(|e| e.into_inner()),
            Storage::Gpu(_) => panic!("wgnn bug: CPU access to a GPU tensor"),
        }
    }

    pub(crate) fn gpu(&self) -> &GpuBuffer {
        match self {
            Storage::Gpu(buffer) => buffer,
            Storage::Cpu(_) => panic!("wgnn bug: GPU access to a CPU tensor"),
        }
    }
}
