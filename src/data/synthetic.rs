//! The course's small datasets, generated from a seed: XOR, two circles and two moons
//! (as scikit-learn's make_circles / make_moons), and a 1-D linear regression.

use super::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

/// Standard normal draws (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Builds a dataset of 2-D points and 0/1 targets (N, 1), shuffled, with noise added.
fn points(
    mut rows: Vec<([f32; 2], f32)>,
    noise: f32,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Dataset> {
    rows.shuffle(rng);
    let n = rows.len();
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for ([a, b], label) in rows {
        x.push(a + noise * gaussian(rng));
        x.push(b + noise * gaussian(rng));
        y.push(label);
    }
    Dataset::from_tensors(
        Tensor::from_vec(x, &[n, 2], device)?,
        Tensor::from_vec(y, &[n, 1], device)?,
    )
}

fn check(op: &'static str, n: usize, noise: f32) -> Result<()> {
    if n < 2 || !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::invalid(
            op,
            format!("at least 2 samples and noise >= 0, got n {n}, noise {noise}"),
        ));
    }
    Ok(())
}

/// The four XOR points, targets (4, 1).
pub fn xor(device: &Device) -> Result<Dataset> {
    Dataset::from_tensors(
        Tensor::from_vec(vec![0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2], device)?,
        Tensor::from_vec(vec![0., 1., 1., 0.], &[4, 1], device)?,
    )
}

/// Two concentric circles: label 0 on the outer (radius 1), 1 on the inner (radius
/// `factor`), Gaussian noise of std `noise`, as sklearn's make_circles.
pub fn circles(n: usize, factor: f32, noise: f32, seed: u64, device: &Device) -> Result<Dataset> {
    check("circles", n, noise)?;
    if !(factor > 0.0 && factor < 1.0) {
        return Err(Error::invalid(
            "circles",
            format!("factor must be in (0, 1), got {factor}"),
        ));
    }
    let (outer, inner) = (n / 2, n - n / 2);
    let ring = |count: usize, radius: f32, label: f32| {
        (0..count).map(move |i| {
            let t = std::f32::consts::TAU * i as f32 / count as f32;
            ([radius * t.cos(), radius * t.sin()], label)
        })
    };
    let rows = ring(outer, 1.0, 0.0)
        .chain(ring(inner, factor, 1.0))
        .collect();
    points(rows, noise, &mut StdRng::seed_from_u64(seed), device)
}

/// Two interleaving half circles, as sklearn's make_moons: label 0 on the upper moon,
/// 1 on the lower.
pub fn moons(n: usize, noise: f32, seed: u64, device: &Device) -> Result<Dataset> {
    check("moons", n, noise)?;
    let (outer, inner) = (n / 2, n - n / 2);
    let angle =
        |i: usize, count: usize| std::f32::consts::PI * i as f32 / (count.max(2) - 1) as f32;
    let rows = (0..outer)
        .map(|i| ([angle(i, outer).cos(), angle(i, outer).sin()], 0.0))
        .chain((0..inner).map(|i| {
            (
                [1.0 - angle(i, inner).cos(), 0.5 - angle(i, inner).sin()],
                1.0,
            )
        }))
        .collect();
    points(rows, noise, &mut StdRng::seed_from_u64(seed), device)
}

/// The course's linear regression: temperature (°C, uniform in 10-35) against ice-cream
/// sales = 20·temperature + 50 + Gaussian noise of std 25. Inputs (n, 1), targets (n, 1).
pub fn ice_cream(n: usize, seed: u64, device: &Device) -> Result<Dataset> {
    check("ice_cream", n, 0.0)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let temperature: Vec<f32> = (0..n).map(|_| rng.random_range(10.0..35.0)).collect();
    let sales: Vec<f32> = temperature
        .iter()
        .map(|t| 20.0 * t + 50.0 + 25.0 * gaussian(&mut rng))
        .collect();
    Dataset::from_tensors(
        Tensor::from_vec(temperature, &[n, 1], device)?,
        Tensor::from_vec(sales, &[n, 1], device)?,
    )
}
