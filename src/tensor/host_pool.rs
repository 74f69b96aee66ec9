//! Recycled host memory for the CPU path. A training step allocates the same large
//! intermediates every time; taking fresh memory from the system for each one costs a
//! page fault per 4 KiB (about a fifth of a CNN step on the development machine). Values
//! of a dropped CPU tensor go back to this pool, keyed by length, and the next tensor of
//! that length reuses them.
//!
//! The pool keeps, for each length, at most as many idle vectors as it ever had to create
//! for that length: tensors made elsewhere (a user's `from_vec`) that come back on top of
//! those are freed, so the idle memory stays at the peak a loop needs and does not grow
//! with the number of steps.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Vectors shorter than this (256 KiB) come from the allocator, which serves them well.
const MIN_POOLED: usize = 1 << 16;
/// Most bytes the pool keeps idle; vectors returned beyond it are freed.
const MAX_IDLE_BYTES: usize = 512 << 20;

#[derive(Default)]
struct Idle {
    by_len: HashMap<usize, Shelf>,
    bytes: usize,
}

/// The idle vectors of one length.
#[derive(Default)]
struct Shelf {
    idle: Vec<Vec<f32>>,
    /// Requests the shelf could not serve: the most vectors of this length its users have
    /// needed at once, and so the most it keeps.
    created: usize,
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
    let pool = guard.get_or_insert_with(Idle::default);
    let shelf = pool.by_len.entry(len).or_default();
    match shelf.idle.pop() {
        Some(v) => {
            pool.bytes -= v.capacity() * 4;
            Some(v)
        }
        None => {
            shelf.created += 1;
            None
        }
    }
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
    let Some(pool) = guard.as_mut() else {
        return;
    };
    let Some(shelf) = pool.by_len.get_mut(&v.len()) else {
        return;
    };
    if shelf.idle.len() >= shelf.created || pool.bytes + v.capacity() * 4 > MAX_IDLE_BYTES {
        return;
    }
    pool.bytes += v.capacity() * 4;
    shelf.idle.push(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_count(len: usize) -> usize {
        idle()
            .as_ref()
            .and_then(|pool| pool.by_len.get(&len))
            .map_or(0, |shelf| shelf.idle.len())
    }

    #[test]
    fn the_pool_keeps_no_more_vectors_than_it_had_to_create() {
        let len = MIN_POOLED + 12_345; // a length no other test uses
        give_back(vec![1.0; len]); // never asked for: freed
        assert_eq!(idle_count(len), 0);
        let first = uninit(len); // a miss: one vector of this length is needed
        give_back(first);
        give_back(vec![2.0; len]); // one more than was ever needed: freed
        assert_eq!(idle_count(len), 1);
        let again = zeros(len);
        assert!(again.iter().all(|&v| v == 0.0));
        assert_eq!(idle_count(len), 0);
        let second = uninit(len); // two at once now
        give_back(again);
        give_back(second);
        give_back(vec![3.0; len]);
        assert_eq!(idle_count(len), 2);
    }
}
