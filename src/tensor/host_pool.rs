//! Recycled host memory for the CPU path. A training step allocates the same large
//! intermediates every time; taking fresh memory from the system for each one costs a
//! page fault per 4 KiB (about a fifth of a CNN step on the development machine). Values
//! of a dropped CPU tensor go back to this pool, keyed by length, and the next tensor of
//! that length reuses them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Vectors shorter than this (256 KiB) come from the allocator, which serves them well.
const MIN_POOLED: usize = 1 << 16;
/// Most bytes the pool keeps idle; vectors returned beyond it are freed.
const MAX_IDLE_BYTES: usize = 512 << 20;

#[derive(Default)]
struct Idle {
    by_len: HashMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
}

static IDLE: Mutex<Option<Idle>> = Mutex::new(None);

fn idle() -> MutexGuard<'static, Option<Idle>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(len: usize) -> Option<Vec<f32>> {
    if len < MIN_POOLED {
        return None;
    }
    let mut guard = idle();
    let pool = guard.as_mut()?;
    let v = pool.by_len.get_mut(&len)?.pop()?;
    pool.bytes -= v.capacity() * 4;
    Some(v)
}

/// A vector of `len` values that the caller overwrites entirely: recycled memory with
/// stale values when the pool has some, else fresh zeros.
pub(crate) fn uninit(len: usize) -> Vec<f32> {
    take(len).unwrap_or_else(|| vec![0.0; len])
}

/// A vector of `len` zeros (recycled memory, cleared, when the pool has some).
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    match take(len) {
        Some(mut v) => {
            v.fill(0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// Gives a tensor's values back for reuse.
pub(crate) fn give_back(v: Vec<f32>) {
    if v.len() < MIN_POOLED {
        return;
    }
    let mut guard = idle();
    let pool = guard.get_or_insert_with(Idle::default);
    if pool.bytes + v.capacity() * 4 > MAX_IDLE_BYTES {
        return;
    }
    pool.bytes += v.capacity() * 4;
    pool.by_len.entry(v.len()).or_default().push(v);
}
