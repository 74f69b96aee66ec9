//! Parallel loops of the CPU twins: large elementwise outputs are split into chunks that
//! rayon spreads over the cores; small ones run on the calling thread.

use rayon::prelude::*;

/// Elements per parallel task (and the size under which a loop stays serial).
pub(crate) const GRAIN: usize = 1 << 15;

/// `[f(0), f(1), ..., f(n − 1)]`, computed in parallel when `n` is large.
pub(crate) fn par_map(n: usize, f: impl Fn(usize) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    par_fill(&mut out, f);
    out
}

/// `out[i] = f(i)` for every i, in parallel when `out` is large.
pub(crate) fn par_fill(out: &mut [f32], f: impl Fn(usize) -> f32 + Sync + Send) {
    if out.len() <= GRAIN {
        out.iter_mut().enumerate().for_each(|(i, v)| *v = f(i));
        return;
    }
    out.par_chunks_mut(GRAIN)
        .enumerate()
        .for_each(|(c, chunk)| {
            let start = c * GRAIN;
            chunk
                .iter_mut()
                .enumerate()
                .for_each(|(j, v)| *v = f(start + j));
        });
}

/// Runs `f(index, chunk)` over consecutive `chunk`-sized pieces of `out`, in parallel
/// when `out` is large.
pub(crate) fn par_chunks(
    out: &mut [f32],
    chunk: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    if out.len() <= GRAIN {
        out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}
