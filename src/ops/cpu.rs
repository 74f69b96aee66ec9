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

/// `[f(x) for x in xs]`, in parallel when large; the loop over a chunk is a plain zip
/// that the compiler can vectorise when `f` is simple.
pub(crate) fn par_map1(xs: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = vec![0.0f32; xs.len()];
    let run = |(o, x): (&mut [f32], &[f32])| {
        o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x));
    };
    if xs.len() <= GRAIN {
        run((&mut out, xs));
    } else {
        out.par_chunks_mut(GRAIN)
            .zip(xs.par_chunks(GRAIN))
            .for_each(run);
    }
    out
}

/// `[f(x, y) for x, y in xs, ys]` (same lengths), in parallel when large.
pub(crate) fn par_map2(
    xs: &[f32],
    ys: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    let mut out = vec![0.0f32; xs.len()];
    let run = |((o, x), y): ((&mut [f32], &[f32]), &[f32])| {
        o.iter_mut()
            .zip(x)
            .zip(y)
            .for_each(|((o, &x), &y)| *o = f(x, y));
    };
    if xs.len() <= GRAIN {
        run(((&mut out, xs), ys));
    } else {
        out.par_chunks_mut(GRAIN)
            .zip(xs.par_chunks(GRAIN))
            .zip(ys.par_chunks(GRAIN))
            .for_each(run);
    }
    out
}
