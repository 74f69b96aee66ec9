//! Reading tensors without stalling the GPU: [`Tensor::read_later`] starts the copies and
//! returns at once; the values are taken when they have arrived ([`LaterRead::try_take`]
//! never blocks) or waited for once ([`LaterRead::wait`]). `fit` reads its running loss
//! and accuracy this way, so an epoch waits on the GPU only at its end.

use super::Tensor;
use crate::device::{Device, GpuContext, PendingRead};
use crate::error::{Error, Result};
use std::sync::Arc;

/// The values of several tensors on their way to the host.
pub enum LaterRead {
    /// Values already on the host (the CPU path, or taken once).
    Ready(Option<Vec<Vec<f32>>>),
    /// A GPU read in flight.
    Pending(Arc<GpuContext>, Box<PendingRead>),
}

impl Tensor {
    /// Starts reading every one of `tensors` (all on one device), without waiting for the
    /// GPU: one submit, and the copies land in one staging buffer.
    pub fn read_later(tensors: &[&Tensor]) -> Result<LaterRead> {
        let Some(first) = tensors.first() else {
            return Ok(LaterRead::Ready(Some(Vec::new())));
        };
        if let Some(other) = tensors.iter().find(|t| !t.device().same_as(first.device())) {
            return Err(Error::invalid(
                "read_later",
                format!(
                    "expected tensors on one device, got {} and {}",
                    first.device(),
                    other.device()
                ),
            ));
        }
        match first.device() {
            Device::Cpu => Ok(LaterRead::Ready(Some(
                tensors.iter().map(|t| t.cpu_data().clone()).collect(),
            ))),
            Device::Gpu(ctx) => {
                let buffers: Vec<_> = tensors
                    .iter()
                    .map(|t| (t.gpu_buffer(), t.numel()))
                    .collect();
                let read = ctx.read_async(&buffers)?;
                Ok(LaterRead::Pending(ctx.clone(), Box::new(read)))
            }
        }
    }
}

impl LaterRead {
    /// The values, one vector per tensor, if they have arrived; `None` while the GPU is
    /// still working, or once they have been taken. Never blocks.
    pub fn try_take(&mut self) -> Result<Option<Vec<Vec<f32>>>> {
        match self {
            LaterRead::Ready(values) => Ok(values.take()),
            LaterRead::Pending(ctx, read) => {
                let values = ctx.try_finish(read)?;
                if values.is_some() {
                    *self = LaterRead::Ready(None);
                }
                Ok(values)
            }
        }
    }

    /// The values, waiting for the GPU (one host wait on the GPU path). Values already
    /// taken with [`LaterRead::try_take`] are an error.
    pub fn wait(self) -> Result<Vec<Vec<f32>>> {
        match self {
            LaterRead::Ready(values) => values
                .ok_or_else(|| Error::invalid("LaterRead::wait", "the values were already taken")),
            LaterRead::Pending(ctx, read) => ctx.finish(*read),
        }
    }
}
