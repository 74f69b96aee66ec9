//! Data movement: broadcasting to a larger shape and 2-D transpose, both through the
//! strided `gather` kernel (shaders/layout.wgsl).

use super::cpu::strided_map2;
use super::pad4;
use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};

/// out[i] = scale · src[strided(i)], on the CPU or the GPU; `dims` and `strides` are the
/// output's dims and the source's strides, both of the output's rank.
pub(crate) fn gather(
    src: &Tensor,
    out_shape: Shape,
    strides: &[usize],
    scale: f32,
) -> Result<Tensor> {
    let n = out_shape.numel();
    let d = pad4(out_shape.dims(), 1);
    let s = pad4(strides, 0);
    match src.device() {
        Device::Cpu => {
            let data = src.cpu_data();
            let mut out = host_pool::uninit(n);
            let unit = [1.0f32];
            let by = (&unit[..], [0; 4]);
            strided_map2(&mut out, &d, (&data, s), by, |x, _| scale * x);
            Ok(Tensor::from_cpu(out_shape, out))
        }
        device @ Device::Gpu(ctx) => {
            let out = ctx.alloc(n, "gathered tensor")?;
            let mut params = Params::new().u(n);
            for v in d.iter().chain(&s) {
                params = params.u(*v);
            }
            ctx.dispatch(
                &Kernel::new("layout", "gather", 1, 1),
                &[src.gpu_buffer()],
                &[&out],
                params.f(scale),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(out_shape, out, device))
        }
    }
}

impl Tensor {
    /// This tensor repeated along its size-1 (or missing leading) dims to `dims`.
    pub fn broadcast_to(&self, dims: &[usize]) -> Result<Tensor> {
        self.broadcast_scaled(dims, 1.0)
    }

    /// `scale · self` broadcast to `dims` in one pass (the backward of sum and mean).
    pub(crate) fn broadcast_scaled(&self, dims: &[usize], scale: f32) -> Result<Tensor> {
        let target = Shape::new(dims)?;
        let joined = Shape::broadcast("broadcast_to", self.shape(), &target)?;
        if joined != target {
            return Err(Error::shape(
                "broadcast_to",
                format!("a target that {} broadcasts to", self.shape()),
                format!("{target}"),
            ));
        }
        if &target == self.shape() && scale == 1.0 {
            return Ok(self.clone());
        }
        let strides = self.shape().broadcast_strides(&target);
        let out = gather(self, target, &strides, scale)?;
        let from = self.dims().to_vec();
        Ok(record("broadcast_to", out, &[self], move |g| {
            Ok(vec![Some(g.sum_to(&from)?.mul_scalar(scale)?)])
        }))
    }

    /// The transpose of a 2-D tensor (a copy; `matmul_t` reads transposed operands
    /// without one).
    pub fn transpose(&self) -> Result<Tensor> {
        let &[rows, cols] = self.dims() else {
            return Err(Error::shape(
                "transpose",
                "a 2-D tensor",
                format!("{}", self.shape()),
            ));
        };
        let out = gather(self, Shape::new(&[cols, rows])?, &[1, cols], 1.0)?;
        Ok(record("transpose", out, &[self], |g| {
            Ok(vec![Some(g.transpose()?)])
        }))
    }
}

impl Tensor {
    /// Overwrites this tensor's values with `src`'s, in place (same shape and device):
    /// how parameters are restored or loaded. Every view of the storage sees the change.
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        let device = Tensor::common_device("copy_from", &[self, src])?;
        if self.shape() != src.shape() {
            return Err(Error::shape(
                "copy_from",
                format!("{}", self.shape()),
                format!("{}", src.shape()),
            ));
        }
        match &device {
            Device::Cpu => {
                let values = src.cpu_data().clone();
                *self.0.storage.cpu_write() = values;
            }
            Device::Gpu(ctx) => ctx.copy(src.gpu_buffer(), self.gpu_buffer(), self.numel()),
        }
        Ok(())
    }

    /// Overwrites element `index` of this tensor with the value of the one-element tensor
    /// `src`, in place, on the device (a buffer copy on a GPU, no dispatch).
    pub(crate) fn set_element_from(&self, index: usize, src: &Tensor) -> Result<()> {
        let device = Tensor::common_device("set_element_from", &[self, src])?;
        if src.numel() != 1 || index >= self.numel() {
            return Err(Error::shape(
                "set_element_from",
                format!("one value into an index below {}", self.numel()),
                format!("{} values into index {index}", src.numel()),
            ));
        }
        match &device {
            Device::Cpu => {
                let value = src.cpu_data()[0];
                self.0.storage.cpu_write()[index] = value;
            }
            Device::Gpu(ctx) => ctx.copy_at(src.gpu_buffer(), self.gpu_buffer(), index, 1),
        }
        Ok(())
    }
}
