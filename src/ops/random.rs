//! Random tensors made on the device from a counter-based hash (shaders/random.wgsl):
//! the dropout mask, and dropout applied with its mask made on the fly. The CPU twin
//! computes the same bits.

use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The PCG output hash of `v` (`pcg_hash` in shaders/common.wgsl).
#[inline(always)]
fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// The word every element of `seed`'s stream mixes into its counter.
fn seed_key(seed: u64) -> u32 {
    pcg_hash(seed as u32 ^ pcg_hash((seed >> 32) as u32))
}

/// Element `i` of the uniform [0, 1) stream whose seed has key `key`. The top 24 bits fit an
/// i32, whose conversion to f32 is one vector instruction (u32's is not).
#[inline(always)]
fn uniform01_keyed(i: u32, key: u32) -> f32 {
    (pcg_hash(i ^ key) >> 8) as i32 as f32 / 16_777_216.0
}

/// Element `i` of the uniform [0, 1) stream of `seed` (`seeded_uniform` in
/// shaders/common.wgsl).
pub(crate) fn uniform01(i: u32, seed: u64) -> f32 {
    uniform01_keyed(i, seed_key(seed))
}

/// Checks a drop probability.
pub(super) fn check_p(p: f32) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::invalid(
            "dropout",
            format!("the drop probability must be in [0, 1), got {p}"),
        ))
    }
}

/// Appends the four words the dropout kernels read for (`p`, `seed`), none meaning no
/// dropout: the probability, the keep scale 1/(1 − p), and the seed's low and high halves.
pub(super) fn dropout_words(params: Params, dropout: Option<(f32, u64)>) -> Params {
    let (p, seed) = dropout.unwrap_or((0.0, 0));
    params
        .f(p)
        .f(1.0 / (1.0 - p))
        .u(seed as u32 as usize)
        .u((seed >> 32) as usize)
}

/// Applies the dropout mask of (`p`, `seed`) to `values`, element `k` of which is element
/// `first + k` of its tensor: 0 where the mask drops, `v / (1 − p)` where it keeps.
pub(crate) fn drop_in_place(values: &mut [f32], first: usize, p: f32, seed: u64) {
    let (scale, key) = (1.0 / (1.0 - p), seed_key(seed));
    // `move`: the loop reads its own copies, not references the stores might alias.
    super::cpu::simd(
        #[inline(always)]
        move || {
            for (k, v) in values.iter_mut().enumerate() {
                let dropped = uniform01_keyed((first + k) as u32, key) < p;
                *v = if dropped { 0.0 } else { *v * scale };
            }
        },
    );
}

/// `x · mask` for the dropout mask of (`p`, `seed`), the mask made on the fly.
pub(super) fn apply_dropout(x: &Tensor, p: f32, seed: u64) -> Result<Tensor> {
    let n = x.numel();
    match x.device() {
        Device::Cpu => {
            let mut data = x.cpu_data().clone();
            super::cpu::par_chunks(&mut data, super::cpu::GRAIN, |c, chunk| {
                drop_in_place(chunk, c * super::cpu::GRAIN, p, seed);
            });
            Ok(Tensor::from_cpu(x.shape().clone(), data))
        }
        device @ Device::Gpu(ctx) => {
            let out = ctx.alloc(n, "dropout")?;
            ctx.dispatch(
                &Kernel::new("random", "dropout", 1, 1),
                &[x.gpu_buffer()],
                &[&out],
                dropout_words(Params::new().u(n), Some((p, seed))),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(x.shape().clone(), out, device))
        }
    }
}

impl Tensor {
    /// Inverted dropout: each element zeroed with probability `p`, the rest scaled by
    /// 1/(1−p), with the mask of `seed` ([`Tensor::dropout_mask`]'s, the same on every
    /// device). One pass forward and one back: the mask is made as it is applied and
    /// regenerated for the gradient, never stored.
    pub fn dropout(&self, p: f32, seed: u64) -> Result<Tensor> {
        check_p(p)?;
        let out = apply_dropout(self, p, seed)?;
        Ok(crate::autograd::record("dropout", out, &[self], move |g| {
            Ok(vec![Some(apply_dropout(g, p, seed)?)])
        }))
    }

    /// An inverted-dropout mask: each element 0 with probability `p`, else 1/(1−p), drawn
    /// from `seed` (the same on every device). Not differentiable.
    pub fn dropout_mask(dims: &[usize], p: f32, seed: u64, device: &Device) -> Result<Tensor> {
        check_p(p)?;
        let shape = Shape::new(dims)?;
        let n = shape.numel();
        match device {
            Device::Cpu => {
                let ones = Tensor::from_cpu(shape, vec![1.0; n]);
                apply_dropout(&ones, p, seed)
            }
            Device::Gpu(ctx) => {
                let out = ctx.alloc(n, "dropout mask")?;
                ctx.dispatch(
                    &Kernel::new("random", "dropout_mask", 0, 1),
                    &[],
                    &[&out],
                    dropout_words(Params::new().u(n), Some((p, seed))),
                    ctx.groups_1d(n, super::WORKGROUP),
                );
                Ok(Tensor::from_gpu(shape, out, device))
            }
        }
    }
}
