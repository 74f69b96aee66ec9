//! Image augmentation on the device (shaders/augment.wgsl): seeded random rotations and
//! shifts of each image in a batch, with bilinear sampling. The CPU twin draws the same
//! numbers and computes the same arithmetic.

use super::random::uniform01;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// (sin a, cos a) for |a| <= π: the shader's Taylor polynomial, term for term.
fn sin_cos(a: f32) -> (f32, f32) {
    let a2 = a * a;
    let (mut s, mut c) = (1.0f32, 1.0f32);
    for k in (1..=8).rev() {
        let k = k as f32;
        s = 1.0 - a2 / ((2.0 * k) * (2.0 * k + 1.0)) * s;
        c = 1.0 - a2 / ((2.0 * k - 1.0) * (2.0 * k)) * c;
    }
    (a * s, c)
}

/// Sizes and draws of one augmentation.
struct Affine {
    dims: [usize; 4],
    seed: u64,
    max_radians: f32,
    max_shift: f32,
}

impl Affine {
    /// Output pixel `i` of the augmented batch, read from `src` (the CPU twin).
    fn pixel(&self, src: &[f32], i: usize) -> f32 {
        let [_, c, h, w] = self.dims;
        let plane = i / (h * w);
        let image = (plane / c) as u32;
        let draw = |k: u32| uniform01(3 * image + k, self.seed) * 2.0 - 1.0;
        let (sin, cos) = sin_cos(draw(0) * self.max_radians);
        let (cx, cy) = ((w - 1) as f32 * 0.5, (h - 1) as f32 * 0.5);
        let px = (i % w) as f32 - cx - draw(1) * self.max_shift;
        let py = ((i / w) % h) as f32 - cy - draw(2) * self.max_shift;
        let (qx, qy) = (cos * px + sin * py + cx, -sin * px + cos * py + cy);
        let (bx, by) = (qx.floor(), qy.floor());
        let (fx, fy) = (qx - bx, qy - by);
        let (x0, y0) = (bx as i64, by as i64);
        let at = |x: i64, y: i64| -> f32 {
            if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
                0.0
            } else {
                src[(plane * h + y as usize) * w + x as usize]
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

impl Tensor {
    /// Rotates each image of this (N, C, H, W) batch about its centre by a random angle in
    /// ±`max_degrees` (at most 180) and shifts it by a random offset in ±`max_shift`
    /// pixels on each axis, sampling bilinearly with zeros outside the image. Each image
    /// draws its own angle and offsets from `seed`, the same on every device. Not
    /// differentiable: it is for input data.
    pub fn random_affine(&self, max_degrees: f32, max_shift: f32, seed: u64) -> Result<Tensor> {
        let &[n, c, h, w] = self.dims() else {
            return Err(Error::shape(
                "random_affine",
                "images of shape (N, C, H, W)",
                format!("{}", self.shape()),
            ));
        };
        if !((0.0..=180.0).contains(&max_degrees) && max_shift >= 0.0 && max_shift.is_finite()) {
            return Err(Error::invalid(
                "random_affine",
                format!("max_degrees in [0, 180] and a finite max_shift >= 0, got {max_degrees} and {max_shift}"),
            ));
        }
        let affine = Affine {
            dims: [n, c, h, w],
            seed,
            max_radians: max_degrees.to_radians(),
            max_shift,
        };
        let count = self.numel();
        match self.device() {
            Device::Cpu => {
                let src = self.cpu_data();
                let out = super::cpu::par_map(count, |i| affine.pixel(&src, i));
                Tensor::from_vec(out, self.dims(), &Device::Cpu)
            }
            device @ Device::Gpu(ctx) => {
                let out = ctx.alloc(count, "augmented images")?;
                let params = [n, c, h, w, seed as u32 as usize, (seed >> 32) as usize]
                    .into_iter()
                    .fold(Params::new(), |p, v| p.u(v))
                    .f(affine.max_radians)
                    .f(max_shift);
                ctx.dispatch(
                    &Kernel::new("augment", "random_affine", 1, 1),
                    &[self.gpu_buffer()],
                    &[&out],
                    params,
                    ctx.groups_1d(count, super::WORKGROUP),
                );
                Ok(Tensor::from_gpu(self.shape().clone(), out, device))
            }
        }
    }
}
