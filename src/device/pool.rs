//! The buffer pool: buffers are handed out by size class and come back when the tensor
//! that held them drops, so a steady training loop allocates nothing new.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The two kinds of buffers the runtime uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum BufferKind {
    /// Tensor storage: STORAGE | COPY_SRC | COPY_DST.
    Storage,
    /// Host readback: MAP_READ | COPY_DST.
    Readback,
}

impl BufferKind {
    fn usage(self) -> wgpu::BufferUsages {
        match self {
            BufferKind::Storage => {
                wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST
            }
            BufferKind::Readback => wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        }
    }
}

/// Smallest buffer handed out, in bytes.
const MIN_CLASS_BYTES: u64 = 256;

/// Rounds a request up to its size class: powers of two split into four steps each, so
/// no buffer wastes more than a quarter of its size.
pub(crate) fn size_class(bytes: u64) -> u64 {
    if bytes <= MIN_CLASS_BYTES {
        return MIN_CLASS_BYTES;
    }
    let top = 63 - (bytes - 1).leading_zeros() as u64; // 2^top < bytes <= 2^(top+1)
    let step = 1u64 << (top - 2);
    bytes.div_ceil(step) * step
}

#[derive(Default)]
struct Shelves {
    free: HashMap<(BufferKind, u64), Vec<(u64, wgpu::Buffer)>>,
}

/// The pool itself; shared by the context and every live buffer.
pub(crate) struct BufferPool {
    device: wgpu::Device,
    shelves: Mutex<Shelves>,
    next_id: AtomicU64,
    created: AtomicU64,
    reused: AtomicU64,
    bytes_created: AtomicU64,
    bytes_held: AtomicU64,
}

impl BufferPool {
    pub(crate) fn new(device: wgpu::Device) -> Arc<Self> {
        Arc::new(Self {
            device,
            shelves: Mutex::new(Shelves::default()),
            next_id: AtomicU64::new(1),
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            bytes_created: AtomicU64::new(0),
            bytes_held: AtomicU64::new(0),
        })
    }

    /// A buffer of at least `bytes`, reused from the shelf when one of its class is free;
    /// `None` when the device is out of memory for a new one.
    pub(crate) fn take(self: &Arc<Self>, kind: BufferKind, bytes: u64) -> Option<GpuBuffer> {
        let class = size_class(bytes);
        // The idle buffer with the lowest id, whatever order buffers came back in: the
        // same set of idle buffers hands out the same one, so a repeated training step
        // binds the same buffers and finds its bind groups cached.
        let shelved = self
            .shelves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .free
            .get_mut(&(kind, class))
            .and_then(|shelf| {
                let lowest = (0..shelf.len()).min_by_key(|&i| shelf[i].0)?;
                Some(shelf.swap_remove(lowest))
            });
        let (id, buffer) = match shelved {
            Some(found) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                found
            }
            None => {
                let buffer = self.create(kind, class)?;
                self.created.fetch_add(1, Ordering::Relaxed);
                self.bytes_created.fetch_add(class, Ordering::Relaxed);
                self.bytes_held.fetch_add(class, Ordering::Relaxed);
                (self.next_id.fetch_add(1, Ordering::Relaxed), buffer)
            }
        };
        Some(GpuBuffer {
            id,
            kind,
            class,
            buffer: Some(buffer),
            pool: self.clone(),
        })
    }

    /// A new buffer, or `None` when the device reports that it is out of memory. Other
    /// errors (a lost device) reach the context's uncaptured-error handler.
    fn create(&self, kind: BufferKind, class: u64) -> Option<wgpu::Buffer> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgnn"),
            size: class,
            usage: kind.usage(),
            mapped_at_creation: false,
        });
        match pollster::block_on(scope.pop()) {
            None => Some(buffer),
            Some(_) => None,
        }
    }

    fn give_back(&self, kind: BufferKind, class: u64, id: u64, buffer: wgpu::Buffer) {
        self.shelves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .free
            .entry((kind, class))
            .or_default()
            .push((id, buffer));
    }

    /// Frees every shelved buffer.
    pub(crate) fn trim(&self) {
        let freed: Vec<_> = self
            .shelves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .free
            .drain()
            .collect();
        for ((_, class), buffers) in freed {
            self.bytes_held
                .fetch_sub(class * buffers.len() as u64, Ordering::Relaxed);
        }
    }

    /// Bytes of all buffers the pool has created and not freed: live ones and shelved ones.
    pub(crate) fn bytes_held(&self) -> u64 {
        self.bytes_held.load(Ordering::Relaxed)
    }

    /// (buffers created, buffers reused, bytes created) since the pool opened.
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        (
            self.created.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
            self.bytes_created.load(Ordering::Relaxed),
        )
    }
}

/// A GPU buffer on loan from the pool; it goes back to the pool when dropped. Commands
/// already recorded keep the memory valid: a later user of the same buffer is recorded
/// after them in the one command stream.
pub struct GpuBuffer {
    id: u64,
    kind: BufferKind,
    class: u64,
    buffer: Option<wgpu::Buffer>,
    pool: Arc<BufferPool>,
}

impl GpuBuffer {
    /// A stable id, used to cache bind groups.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The wgpu buffer.
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }

    /// Its size in bytes (its size class, at least what was asked).
    pub fn size(&self) -> u64 {
        self.class
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(self.kind, self.class, self.id, buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_by_at_most_a_quarter() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(1025), 1280);
        for bytes in [300u64, 4097, 1 << 20, 3_000_001] {
            let class = size_class(bytes);
            assert!(
                class >= bytes && class <= bytes + bytes / 4 + 4,
                "{bytes} -> {class}"
            );
            assert_eq!(size_class(class), class);
        }
    }
}
