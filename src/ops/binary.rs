//! add, sub, mul, div with numpy broadcasting (shaders/binary.wgsl).

use super::cpu::par_map2;
use super::cpu::strided_map2;
use super::pad4;
use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::Result;
use crate::shape::Shape;
use crate::tensor::{host_pool, Tensor};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BinaryOp {
    Add = 0,
    Sub = 1,
    Mul = 2,
    Div = 3,
    Equal = 4,
}

impl BinaryOp {
    fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Equal => "eq",
        }
    }

    fn apply(self, x: f32, y: f32) -> f32 {
        match self {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
            BinaryOp::Equal => (x == y) as u32 as f32,
        }
    }
}

fn forward(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let device = Tensor::common_device(op.name(), &[a, b])?;
    let shape = Shape::broadcast(op.name(), a.shape(), b.shape())?;
    let n = shape.numel();
    let d = pad4(shape.dims(), 1);
    let sa = pad4(&a.shape().broadcast_strides(&shape), 0);
    let sb = pad4(&b.shape().broadcast_strides(&shape), 0);
    match &device {
        Device::Cpu => {
            let (xs, ys) = (a.cpu_data(), b.cpu_data());
            let data = if a.shape() == b.shape() {
                match op {
                    BinaryOp::Add => par_map2(&xs, &ys, |x, y| x + y),
                    BinaryOp::Mul => par_map2(&xs, &ys, |x, y| x * y),
                    _ => par_map2(&xs, &ys, |x, y| op.apply(x, y)),
                }
            } else {
                let mut out = host_pool::uninit(n);
                strided_map2(&mut out, &d, (&xs, sa), (&ys, sb), |x, y| op.apply(x, y));
                out
            };
            Ok(Tensor::from_cpu(shape, data))
        }
        Device::Gpu(ctx) => {
            let out = ctx.alloc(n, "elementwise result")?;
            let mut params = Params::new().u(n);
            for v in d.iter().chain(&sa).chain(&sb) {
                params = params.u(*v);
            }
            ctx.dispatch(
                &Kernel::new("binary", "binary", 2, 1).with("OP", op as u32),
                &[a.gpu_buffer(), b.gpu_buffer()],
                &[&out],
                params,
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(shape, out, &device))
        }
    }
}

fn binary(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let out = forward(a, b, op)?;
    if op == BinaryOp::Equal {
        return Ok(out); // a comparison has no gradient
    }
    let (sa, sb) = (a.dims().to_vec(), b.dims().to_vec());
    let (need_a, need_b) = (a.requires_grad(), b.requires_grad());
    let (va, vb, vout) = (a.detach(), b.detach(), out.clone());
    Ok(record(op.name(), out, &[a, b], move |g| {
        let ga = |f: &dyn Fn() -> Result<Tensor>| -> Result<Option<Tensor>> {
            if need_a {
                Ok(Some(f()?.sum_to(&sa)?))
            } else {
                Ok(None)
            }
        };
        let gb = |f: &dyn Fn() -> Result<Tensor>| -> Result<Option<Tensor>> {
            if need_b {
                Ok(Some(f()?.sum_to(&sb)?))
            } else {
                Ok(None)
            }
        };
        Ok(match op {
            BinaryOp::Add => vec![ga(&|| Ok(g.clone()))?, gb(&|| Ok(g.clone()))?],
            BinaryOp::Sub => vec![ga(&|| Ok(g.clone()))?, gb(&|| g.neg())?],
            BinaryOp::Mul => vec![ga(&|| g.mul(&vb))?, gb(&|| g.mul(&va))?],
            // d(a/b)/db = −(a/b)/b
            BinaryOp::Div => vec![ga(&|| g.div(&vb))?, gb(&|| g.mul(&vout)?.div(&vb)?.neg())?],
            BinaryOp::Equal => vec![None, None],
        })
    }))
}

impl Tensor {
    /// self + other, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Add)
    }
    /// self − other, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Sub)
    }
    /// self · other elementwise, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Mul)
    }
    /// 1 where self == other, else 0, broadcasting. Not differentiable.
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Equal)
    }
    /// self / other elementwise, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Div)
    }
}
