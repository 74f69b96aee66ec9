//! Where a tensor's values live.

use crate::device::GpuBuffer;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shared, reference-counted storage. Values are immutable once computed, except
/// parameters that optimizers update in place.
#[derive(Clone)]
pub(crate) enum Storage {
    /// Host memory for the CPU path.
    Cpu(Arc<RwLock<Vec<f32>>>),
    /// A pooled GPU buffer (at least as large as the tensor).
    Gpu(Arc<GpuBuffer>),
}

impl Storage {
    pub(crate) fn cpu(data: Vec<f32>) -> Storage {
        Storage::Cpu(Arc::new(RwLock::new(data)))
    }

    pub(crate) fn cpu_read(&self) -> RwLockReadGuard<'_, Vec<f32>> {
        match self {
            Storage::Cpu(data) => data.read().unwrap_or_else(|e| e.into_inner()),
            Storage::Gpu(_) => panic!("wgnn bug: CPU access to a GPU tensor"),
        }
    }

    /// Write access for in-place parameter updates on the CPU path.
    pub(crate) fn cpu_write(&self) -> RwLockWriteGuard<'_, Vec<f32>> {
        match self {
            Storage::Cpu(data) => data.write().unwrap_or_else(|e| e.into_inner()),
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
