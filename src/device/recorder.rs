//! The command recorder: dispatches go into one open compute pass of one encoder, and
//! the encoder is submitted only when the host needs a value or much work is pending.

use super::params::{Params, PARAM_BYTES};
use super::pipelines::{Kernel, ParamsMode, PipelineCache};
use super::pool::GpuBuffer;
use super::waits::HostWaits;
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// Dispatches recorded before the recorder submits on its own (without waiting).
pub(crate) const DEFAULT_MAX_PENDING: usize = 4096;
/// Bind groups kept before the cache is cleared.
const MAX_CACHED_BIND_GROUPS: usize = 16384;
/// Largest number of storage buffers one kernel binds: the optimizers' step with the most
/// tensors, states and the partial sums of clipping by norm.
const MAX_BINDINGS: usize = crate::optim::MAX_STEP_BINDINGS;

/// A bind group's identity: its layout (reads, writes) and its buffers in binding order
/// (unused slots 0).
#[derive(Clone, Copy, PartialEq, Eq)]
struct BindKey {
    reads: u8,
    writes: u8,
    ids: [u64; MAX_BINDINGS],
}

impl std::hash::Hash for BindKey {
    /// Hashes the used slots only: most kernels bind 2-5 of the 33. With FxHash for the
    /// recorder's and the pipeline cache's maps, callgrind counted 20,400 instructions
    /// per course MLP step inside `GpuContext::dispatch`, against 41,600 with SipHash
    /// over every slot (32,200 with SipHash over the used ones).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u8(self.reads);
        state.write_u8(self.writes);
        let used = usize::from(self.reads) + usize::from(self.writes);
        for id in &self.ids[..used] {
            state.write_u64(*id);
        }
    }
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

/// A uniform buffer of `bytes` for per-dispatch parameters where immediates are missing,
/// and its bind group (`layout`: the pipeline cache's), binding one `Params` at a dynamic
/// offset.
fn params_uniform(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    label: &str,
    bytes: u32,
) -> (wgpu::Buffer, wgpu::BindGroup) {
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: u64::from(bytes),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &buffer,
                offset: 0,
                size: wgpu::BufferSize::new(u64::from(PARAM_BYTES)),
            }),
        }],
    });
    (buffer, bind_group)
}

/// Dispatches timed per batch of timestamp queries.
const TIMED_DISPATCHES: u32 = 2048;

/// Pairs of GPU timestamps (start and end of a compute pass) and the buffers that bring
/// them back: the profiler's kernel timer and the autotuner's stopwatch.
struct Timestamps {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period_ns: f32,
}

impl Timestamps {
    fn new(device: &wgpu::Device, queue: &wgpu::Queue, pairs: u32, label: &str) -> Self {
        let bytes = u64::from(pairs) * 16;
        let buffer = |usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Timestamps {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some(label),
                ty: wgpu::QueryType::Timestamp,
                count: pairs * 2,
            }),
            resolved: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            period_ns: queue.get_timestamp_period(),
        }
    }

    /// Timestamps `2 * pair` and `2 * pair + 1` at the start and end of a compute pass.
    fn pass_writes(&self, pair: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(pair * 2),
            end_of_pass_write_index: Some(pair * 2 + 1),
        }
    }

    /// Records copying the first `pairs` pairs to the readback buffer.
    fn resolve(&self, encoder: &mut wgpu::CommandEncoder, pairs: u32) {
        let count = pairs * 2;
        encoder.resolve_query_set(&self.queries, 0..count, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, u64::from(count) * 8);
    }

    /// The time between the two timestamps of each of the first `pairs` pairs, once the
    /// GPU has written them (`wait` waits for it); None if waiting or mapping failed.
    fn read(&self, pairs: u32, wait: impl FnOnce() -> bool) -> Option<Vec<std::time::Duration>> {
        let slice = self.readback.slice(0..u64::from(pairs) * 16);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        let times = if wait() {
            slice.get_mapped_range().ok().map(|view| {
                let ticks: &[u64] = bytemuck::cast_slice(&view);
                ticks
                    .chunks_exact(2)
                    .map(|t| {
                        let ns = t[1].saturating_sub(t[0]) as f64 * f64::from(self.period_ns);
                        std::time::Duration::from_nanos(ns as u64)
                    })
                    .collect()
            })
        } else {
            None
        };
        self.readback.unmap();
        times
    }
}

/// GPU timestamps at the start and end of each dispatch, for the profiler
/// (`WGNN_PROFILE=1`). Each timed dispatch gets its own compute pass; at each submit the
/// timestamps are resolved, read back (waiting for the GPU) and added to the profile.
struct KernelTimer {
    stamps: Timestamps,
    /// The kernel of each timed dispatch since the last submit.
    names: Vec<String>,
}

impl KernelTimer {
    fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        KernelTimer {
            stamps: Timestamps::new(device, queue, TIMED_DISPATCHES, "wgnn profiler"),
            names: Vec::new(),
        }
    }

    /// Records copying this batch's timestamps to the readback buffer.
    fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        self.stamps.resolve(encoder, self.names.len() as u32);
    }

    /// Waits for the submitted batch and adds its kernel times to the profile.
    fn collect(&mut self, device: &wgpu::Device, waits: &HostWaits) {
        let pairs = self.names.len() as u32;
        match self.stamps.read(pairs, || waits.wait(device).is_ok()) {
            Some(times) => crate::profile::add_kernel_times(self.names.drain(..).zip(times)),
            None => crate::profile::note_gpu("waiting for the timestamps failed".into()),
        }
        self.names.clear();
    }
}

/// One recorded dispatch, as the launch log keeps it ([`GpuContext::log_launches`]).
///
/// [`GpuContext::log_launches`]: crate::device::GpuContext::log_launches
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The kernel: shader.entry and its specialization constants.
    pub kernel: String,
    /// Workgroups launched along x, y and z.
    pub groups: [u32; 3],
    /// Floating-point operations the op declared for it ([`Params::flops`]); `None` for
    /// an elementwise kernel, whose threads do a few operations each.
    pub flops: Option<u64>,
}

impl Launch {
    /// Workgroups launched in all.
    pub fn workgroups(&self) -> u64 {
        self.groups.iter().map(|&g| u64::from(g)).product()
    }
}

/// The profiler's name of a kernel: shader.entry and its constants.
fn kernel_label(kernel: &Kernel) -> String {
    let mut label = format!("{}.{}", kernel.shader, kernel.entry);
    for (name, value) in &kernel.constants {
        label.push_str(&format!(" {name}={value}"));
    }
    label
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
    timer: Option<KernelTimer>,
    waits: Arc<HostWaits>,
    /// Every dispatch since the log was switched on, when it is.
    launches: Option<Vec<Launch>>,
    /// The parameters of a timed dispatch where immediates are missing
    /// ([`Recorder::time_alone`]), made at the first.
    tuning_params: Option<(wgpu::Buffer, wgpu::BindGroup)>,
    /// Whether the autotuner times by GPU timestamps (the adapter has TIMESTAMP_QUERY)
    /// rather than by the host's clock around a submit and wait.
    pub(crate) tunes_by_timestamps: bool,
    /// The autotuner's pair of timestamps, made at its first timing.
    tuning_stamps: Option<Timestamps>,
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
        features: wgpu::Features,
        waits: Arc<HostWaits>,
    ) -> Self {
        let timer = if !crate::profile::enabled() {
            None
        } else if features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            Some(KernelTimer::new(&device, &queue))
        } else {
            crate::profile::note_gpu("the adapter offers no timestamp queries".into());
            None
        };
        let arena = cache.uniform_layout.as_ref().map(|layout| {
            let slot_bytes = PARAM_BYTES.next_multiple_of(uniform_alignment.max(1));
            let slots = 4096;
            let (buffer, bind_group) =
                params_uniform(&device, layout, "wgnn params arena", slot_bytes * slots);
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
            bind_groups: HashMap::default(),
            timer,
            waits,
            launches: None,
            tuning_params: None,
            tunes_by_timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            tuning_stamps: None,
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
        if self
            .timer
            .as_ref()
            .is_some_and(|t| t.names.len() as u32 >= TIMED_DISPATCHES)
        {
            self.submit();
        }
        if self.pass.is_none() {
            self.encoder();
            let encoder = self.encoder.as_mut().expect("encoder just created");
            let timestamp_writes = self
                .timer
                .as_ref()
                .map(|t| t.stamps.pass_writes(t.names.len() as u32));
            let pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("wgnn"),
                    timestamp_writes,
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
        // The timer runs only while profiling; the label is made once for all three.
        let profiling = crate::profile::enabled();
        if profiling || self.launches.is_some() {
            let launch = Launch {
                kernel: kernel_label(kernel),
                groups,
                flops: params.declared_flops(),
            };
            if profiling {
                crate::profile::add_launch(&launch);
            }
            if let Some(timer) = self.timer.as_mut() {
                timer.names.push(launch.kernel.clone());
                self.end_pass(); // one pass per timed dispatch, so its end timestamp is its own
            }
            if let Some(log) = self.launches.as_mut() {
                log.push(launch);
            }
        }
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

    /// Runs `dispatches` dispatches of `kernel` in a submission of their own, after
    /// submitting what is recorded (so that a recycled buffer is not written before
    /// earlier work reads it) and waiting for the GPU to finish it, and returns the wall
    /// time from that submission to its end: the kernel's time, for the autotuner. None if
    /// the device failed. Counted in no statistic but the submit of the recorded work.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn time_alone(
        &mut self,
        cache: &mut PipelineCache,
        kernel: &Kernel,
        reads: &[&GpuBuffer],
        writes: &[&GpuBuffer],
        params: &Params,
        groups: [u32; 3],
        dispatches: u32,
    ) -> Option<std::time::Duration> {
        self.submit();
        let pipeline = cache.pipeline(kernel);
        let bind_group = self.bind_group(cache, kernel, reads, writes);
        let uniform = cache.uniform_layout.as_ref().map(|layout| {
            let (buffer, group) = self.tuning_params.get_or_insert_with(|| {
                params_uniform(&self.device, layout, "wgnn tuning params", PARAM_BYTES)
            });
            self.queue.write_buffer(buffer, 0, params.bytes());
            group.clone()
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("wgnn tuning"),
            });
        let stamps = self.tunes_by_timestamps.then(|| {
            &*self
                .tuning_stamps
                .get_or_insert_with(|| Timestamps::new(&self.device, &self.queue, 1, "wgnn tuning"))
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("wgnn tuning"),
                timestamp_writes: stamps.map(|s| s.pass_writes(0)),
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            match &uniform {
                Some(group) => pass.set_bind_group(1, group, &[0]),
                None => pass.set_immediates(0, params.bytes()),
            }
            for _ in 0..dispatches {
                pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            }
        }
        if let Some(stamps) = stamps {
            stamps.resolve(&mut encoder, 1);
        }
        let commands = encoder.finish();
        let wait = || {
            self.device
                .poll(wgpu::PollType::wait_indefinitely())
                .is_ok()
        };
        wait().then_some(())?;
        match stamps {
            // The GPU's own clock around the pass: no submission or wait is counted.
            Some(stamps) => {
                self.queue.submit([commands]);
                stamps.read(1, wait)?.first().copied()
            }
            None => super::tune::timed(|| {
                self.queue.submit([commands]);
                wait()
            }),
        }
    }

    /// Records a buffer-to-buffer copy.
    pub(crate) fn copy(&mut self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.copy_at(src, dst, 0, bytes);
    }

    /// Records copying the first `bytes` of `src` to `dst` at byte `offset`.
    pub(crate) fn copy_at(
        &mut self,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) {
        self.end_pass();
        self.encoder()
            .copy_buffer_to_buffer(src, 0, dst, offset, bytes);
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
        let Some(mut encoder) = self.encoder.take() else {
            return;
        };
        let timed = self.timer.as_ref().filter(|t| !t.names.is_empty());
        if let Some(timer) = timed {
            timer.resolve(&mut encoder);
        }
        if let Some(arena) = self.arena.as_mut() {
            if !arena.staged.is_empty() {
                self.queue.write_buffer(&arena.buffer, 0, &arena.staged);
                arena.staged.clear();
            }
        }
        self.queue.submit([encoder.finish()]);
        self.pending = 0;
        self.submits += 1;
        if let Some(timer) = self.timer.as_mut().filter(|t| !t.names.is_empty()) {
            timer.collect(&self.device, &self.waits);
        }
    }

    /// Starts keeping every dispatch in the launch log (afresh), or stops and forgets it.
    pub(crate) fn log_launches(&mut self, on: bool) {
        self.launches = on.then(Vec::new);
    }

    /// The dispatches logged since the log started or was last taken.
    pub(crate) fn take_launches(&mut self) -> Vec<Launch> {
        self.launches
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Bind groups in the cache now.
    pub(crate) fn cached_bind_groups(&self) -> usize {
        self.bind_groups.len()
    }

    /// Forgets cached bind groups (after the pool freed its buffers).
    pub(crate) fn clear_bind_groups(&mut self) {
        self.bind_groups.clear();
    }
}
