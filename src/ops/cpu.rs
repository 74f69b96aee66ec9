//! Parallel loops of the CPU twins: large elementwise outputs are split into chunks that
//! rayon spreads over the cores; small ones run on the calling thread.

use crate::tensor::host_pool;
use rayon::prelude::*;

/// Elements per parallel task (and the size under which a loop stays serial).
pub(crate) const GRAIN: usize = 1 << 15;

/// `[f(0), f(1), ..., f(n − 1)]`, computed in parallel when `n` is large.
pub(crate) fn par_map(n: usize, f: impl Fn(usize) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = host_pool::uninit(n);
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
    let mut out = host_pool::uninit(xs.len());
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
    let mut out = host_pool::uninit(xs.len());
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

/// A source of a strided loop: the values and their strides over the output's four
/// (padded) axes.
pub(crate) type StridedSource<'a> = (&'a [f32], [usize; 4]);

/// out (dims `d`, row-major) = f(a, b) elementwise, where a and b are strided sources
/// (stride 0 broadcasts): row by row along the last axis, so that the offsets are
/// computed once per row and the common inner loops (contiguous or broadcast operands)
/// vectorise.
pub(crate) fn strided_map2(
    out: &mut [f32],
    d: &[usize; 4],
    (xs, sa): StridedSource,
    (ys, sb): StridedSource,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) {
    let len = d[3];
    par_chunks(out, len, |r, row| {
        let (oa, ob) = (
            super::strided_offset(r * len, d, &sa),
            super::strided_offset(r * len, d, &sb),
        );
        match (sa[3], sb[3]) {
            (1, 1) => row
                .iter_mut()
                .zip(&xs[oa..oa + len])
                .zip(&ys[ob..ob + len])
                .for_each(|((o, &x), &y)| *o = f(x, y)),
            (1, 0) => row
                .iter_mut()
                .zip(&xs[oa..oa + len])
                .for_each(|(o, &x)| *o = f(x, ys[ob])),
            (0, 1) => row
                .iter_mut()
                .zip(&ys[ob..ob + len])
                .for_each(|(o, &y)| *o = f(xs[oa], y)),
            (ta, tb) => row
                .iter_mut()
                .enumerate()
                .for_each(|(j, o)| *o = f(xs[oa + j * ta], ys[ob + j * tb])),
        }
    });
}

/// The sum of `xs` in eight independent lanes, so that the loop vectorises.
#[inline(always)] // into `simd` callers
pub(crate) fn lane_sum(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Sums x viewed as (outer, len, inner) over its middle axis into `out` (outer, inner),
/// in parallel over `outer` when large.
pub(crate) fn sum_middle_axis(x: &[f32], [outer, len, inner]: [usize; 3]) -> Vec<f32> {
    let mut out = host_pool::zeros(outer * inner);
    if outer * inner == 0 {
        return out;
    }
    let sum_one = |o: usize, acc: &mut [f32]| {
        let block = &x[o * len * inner..(o + 1) * len * inner];
        if inner == 1 {
            acc[0] = lane_sum(block);
        } else {
            for row in block.chunks_exact(inner) {
                acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        }
    };
    if outer * inner == 1 && x.len() > GRAIN {
        // One sum: partial sums of fixed chunks, added in order (deterministic).
        let partials: Vec<f32> = x.par_chunks(GRAIN).map(lane_sum).collect();
        out[0] = partials.iter().sum();
    } else if outer > 1 && x.len() > GRAIN {
        let per_task = outer.div_ceil(rayon::current_num_threads() * 4).max(1);
        out.par_chunks_mut(per_task * inner)
            .enumerate()
            .for_each(|(t, accs)| {
                for (i, acc) in accs.chunks_mut(inner).enumerate() {
                    sum_one(t * per_task + i, acc);
                }
            });
    } else {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(o, acc)| sum_one(o, acc));
    }
    out
}

thread_local! {
    /// Whether this thread runs a training loop for [`on_worker`]: its own code is serial,
    /// so a large product it asks for may still be split over the cores.
    static STEPS_ON_THIS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a CPU training or evaluation loop) on one of rayon's worker threads, with the
/// caller's grad mode, and waits for it. The loop's parallel ops then hand their chunks to the other workers directly:
/// called from outside the pool, each op would inject its work and put the calling thread
/// to sleep until it is done, two context switches per op, which were about a quarter of
/// the course MLP's CPU epoch. A worker waiting inside one such loop may run another
/// caller's loop to its end before it resumes its own, so thread-local state (the grad
/// mode, the mark below) is set for `f` and restored after it; two threads that train and
/// read the same tensors at once could in principle block each other on one worker.
pub(crate) fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    /// Puts the worker's flag back when `f` returns or unwinds: the worker may have
    /// stolen this job while it waited inside another loop `on_worker` runs.
    struct Marked(bool);
    impl Drop for Marked {
        fn drop(&mut self) {
            STEPS_ON_THIS_WORKER.with(|flag| flag.set(self.0));
        }
    }
    let recording = crate::autograd::is_grad_enabled();
    rayon::scope(|_| {
        let _marked = Marked(STEPS_ON_THIS_WORKER.with(|flag| flag.replace(true)));
        crate::autograd::with_grad_mode(recording, f)
    })
}

/// Whether a large product asked for on this thread may be split over the cores: outside
/// rayon's pool, or in a loop [`on_worker`] runs, but not inside a task of a parallel loop
/// (a caller parallel over independent products), where a nested split only adds overhead.
pub(crate) fn may_split_products() -> bool {
    rayon::current_thread_index().is_none() || STEPS_ON_THIS_WORKER.with(|flag| flag.get())
}

/// Runs `f` compiled for AVX2 and FMA where the CPU has them, so that its loops use 256-bit
/// registers (the baseline x86-64 target has only SSE2): `f` is inlined into the AVX2 copy.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has both features.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product may be split over the cores from a plain thread and from a loop that
    /// `on_worker` runs, but not from the tasks of a parallel loop; the mark does not
    /// outlive `on_worker` on its thread.
    #[test]
    fn products_split_outside_the_pool_and_in_a_loop_on_a_worker_only() {
        assert!(may_split_products());
        assert!(on_worker(
            || rayon::current_thread_index().is_some() && may_split_products()
        ));
        let in_tasks: Vec<bool> = (0..64)
            .into_par_iter()
            .map(|_| may_split_products())
            .collect();
        assert!(in_tasks.iter().all(|split| !split));
        on_worker(|| ());
        let after: Vec<bool> = rayon::broadcast(|_| may_split_products());
        assert!(after.iter().all(|split| !split));
    }

    /// The loop `on_worker` runs records exactly when its caller would.
    #[test]
    fn a_loop_on_a_worker_takes_its_callers_grad_mode() {
        use crate::autograd::{is_grad_enabled, no_grad};
        assert!(on_worker(is_grad_enabled));
        assert!(!no_grad(|| on_worker(is_grad_enabled)));
        assert!(is_grad_enabled());
    }
}
