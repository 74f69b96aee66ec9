//! The command recorder: dispatches go into one open compute pass of one encoder, and
//! the encoder is submitted only when the host needs a value or much work is pending.

use super::params::{Params, PARAM_BYTES};
use super::pipelines::{Kernel, ParamsMode, PipelineCache};
use super::pool::GpuBuffer;
use std::collections::HashMap;

/// Dispatches recorded before the recorder submits on its own (without waiting).
pub(crate) const DEFAULT_MAX_PENDING: usize = 4096;
/// Bind groups kept before the cache is cleared.
const MAX_CACHED_BIND_GROUPS: usize = 16384;
/// Largest number of storage buffers one kernel binds.
const MAX_BINDINGS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct BindKey {
    reads: u8,
    writes: u8,
    ids: [u64; MAX_BINDINGS],
}

/// The uniform arena used where immediates are missing: one slot per dispatch, written
/// to the GPU just before the submit that reads it.
struct UniformArena {
    buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    slot_bytes: u32,
    slots: u32,
    staged: Vec<u8>,
}

pub(crate) struct Recorder {
    device: wgpu::Device,
    queue: wgpu::Queue,
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    pending: usize,
    max_pending: usize,
    arena: Option<UniformArena>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
    pub(crate) dispatches: u64,
    pub(crate) submits: u64,
}

impl Recorder {
    pub(crate) fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        cache: &PipelineCache,
        max_pending: usize,
        uniform_alignment: u32,
    ) -> Self {
        let arena = cache.uniform_layout.as_ref().map(|layout| {
            let slot_bytes = uniform_alignment.max(PARAM_BYTES);
            let slots = 4096;
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgnn params arena"),
                size: (slot_bytes * slots) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("wgnn params"),
                layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(PARAM_BYTES as u64),
                    }),
                }],
            });
            UniformArena {
                buffer,
                bind_group,
                slot_bytes,
                slots,
                staged: Vec::new(),
            }
        });
        Recorder {
            device,
            queue,
            encoder: None,
            pass: None,
            pending: 0,
            max_pending: max_pending.max(1),
            arena,
            bind_groups: HashMap::new(),
            dispatches: 0,
            submits: 0,
        }
    }

    /// Whether anything is recorded and not yet submitted.
    pub(crate) fn has_pending(&self) -> bool {
        self.encoder.is_some()
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wgnn"),
                })
        })
    }

    /// Closes the open compute pass so that a copy can be recorded on the encoder.
    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Records one dispatch.
    pub(crate) fn dispatch(
        &mut self,
        cache: &mut PipelineCache,
        kernel: &Kernel,
        reads: &[&GpuBuffer],
        writes: &[&GpuBuffer],
        params: &Params,
        groups: [u32; 3],
    ) {
        debug_assert_eq!(reads.len(), kernel.reads as usize);
        debug_assert_eq!(writes.len(), kernel.writes as usize);
        if groups.contains(&0) {
            return;
        }
        if self
            .arena
            .as_ref()
            .is_some_and(|a| a.staged.len() as u32 >= a.slot_bytes * a.slots)
        {
            self.submit();
        }
        let pipeline = cache.pipeline(kernel);
        let bind_group = self.bind_group(cache, kernel, reads, writes);
        let params_offset = self.arena.as_mut().map(|arena| {
            let offset = arena.staged.len() as u32;
            arena.staged.extend_from_slice(params.bytes());
            arena.staged.resize((offset + arena.slot_bytes) as usize, 0);
            offset
        });
        if self.pass.is_none() {
            let pass = self
                .encoder()
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("wgnn"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        let arena_group = self.arena.as_ref().map(|a| a.bind_group.clone());
        let pass = self.pass.as_mut().expect("pass just opened");
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        match (params_offset, arena_group) {
            (Some(offset), Some(group)) => pass.set_bind_group(1, &group, &[offset]),
            _ => {
                debug_assert_eq!(cache.mode(), ParamsMode::Immediates);
                pass.set_immediates(0, params.bytes());
            }
        }
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.dispatches += 1;
        self.pending += 1;
        if self.pending >= self.max_pending {
            self.submit();
        }
    }

    fn bind_group(
        &mut self,
        cache: &mut PipelineCache,
        kernel: &Kernel,
        reads: &[&GpuBuffer],
        writes: &[&GpuBuffer],
    ) -> wgpu::BindGroup {
        let mut key = BindKey {
            reads: kernel.reads,
            writes: kernel.writes,
            ids: [0; MAX_BINDINGS],
        };
        for (slot, buffer) in reads.iter().chain(writes).enumerate() {
            key.ids[slot] = buffer.id();
        }
        if let Some(found) = self.bind_groups.get(&key) {
            return found.clone();
        }
        if self.bind_groups.len() >= MAX_CACHED_BIND_GROUPS {
            self.bind_groups.clear();
        }
        let layout = cache.storage_layout(kernel.reads, kernel.writes);
        let entries: Vec<_> = reads
            .iter()
            .chain(writes)
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.raw().as_entire_binding(),
            })
            .collect();
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("wgnn"),
            layout: &layout,
            entries: &entries,
        });
        self.bind_groups.insert(key, group.clone());
        group
    }

    /// Records a buffer-to-buffer copy.
    pub(crate) fn copy(&mut self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.end_pass();
        self.encoder().copy_buffer_to_buffer(src, 0, dst, 0, bytes);
        self.pending += 1;
    }

    /// Records zeroing the first `bytes` of a buffer.
    pub(crate) fn clear(&mut self, buffer: &wgpu::Buffer, bytes: u64) {
        self.end_pass();
        self.encoder().clear_buffer(buffer, 0, Some(bytes));
        self.pending += 1;
    }

    /// Submits everything recorded so far, without waiting for it.
    pub(crate) fn submit(&mut self) {
        self.end_pass();
        let Some(encoder) = self.encoder.take() else {
            return;
        };
        if let Some(arena) = self.arena.as_mut() {
            if !arena.staged.is_empty() {
                self.queue.write_buffer(&arena.buffer, 0, &arena.staged);
                arena.staged.clear();
            }
        }
        self.queue.submit([encoder.finish()]);
        self.pending = 0;
        self.submits += 1;
    }

    /// Forgets cached bind groups (after the pool freed its buffers).
    pub(crate) fn clear_bind_groups(&mut self) {
        self.bind_groups.clear();
    }
}
