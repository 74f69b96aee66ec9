//! The GPU context: adapter choice, device limits and features, and the entry points
//! ops use to allocate, upload, dispatch and read back.

use super::options::{DeviceLimits, GpuOptions};
use super::params::{Params, PARAM_BYTES};
use super::pipelines::{Kernel, ParamsMode, PipelineCache};
use super::pool::{BufferKind, BufferPool, GpuBuffer};
use super::recorder::{Launch, Recorder};
use super::tune::{Autotune, ShapeKey, TuneRecord, Tuner};
use super::waits::HostWaits;
use crate::error::{Error, Result};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

/// Counters of the GPU runtime, for tests and profiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuStats {
    /// GPU buffers created since the device opened.
    pub buffers_created: u64,
    /// Buffer requests served from the pool.
    pub buffers_reused: u64,
    /// Bytes of all buffers created.
    pub bytes_created: u64,
    /// Bytes of the buffers the pool holds now, in use or idle (created and not freed).
    pub bytes_held: u64,
    /// Compiled pipelines.
    pub pipelines: usize,
    /// Bind groups cached by the recorder (cleared when it reaches its bound, 16384).
    pub bind_groups: usize,
    /// Dispatches recorded.
    pub dispatches: u64,
    /// Queue submissions.
    pub submits: u64,
    /// Times the host blocked until the GPU finished its work: reads, synchronizations,
    /// the profiler's timestamp readbacks.
    pub host_waits: u64,
    /// Nanoseconds the host spent in those waits, together.
    pub host_wait_nanos: u64,
    /// CPU time of the waiting threads inside those waits, in nanoseconds: a driver that
    /// spins while it waits (lavapipe does) shows here; 0 where the platform has no
    /// per-thread clock. Subtract it from a thread's CPU time to get its recording cost.
    pub host_wait_cpu_nanos: u64,
}

/// GPU values on their way to the host: see [`GpuContext::read_async`]. Dropping it
/// before its values arrive keeps its staging buffer out of the pool.
pub struct PendingRead {
    staging: Option<GpuBuffer>,
    bytes: u64,
    lengths: Vec<usize>,
    receiver: mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

impl PendingRead {
    /// The values once mapped, one vector per buffer read; the staging buffer goes back
    /// to the pool unmapped.
    fn take(
        &mut self,
        mapped: std::result::Result<(), wgpu::BufferAsyncError>,
    ) -> Result<Vec<Vec<f32>>> {
        mapped.map_err(|e| Error::Gpu(format!("mapping a readback buffer: {e}")))?;
        let staging = self
            .staging
            .take()
            .ok_or_else(|| Error::Gpu("a readback was taken twice".into()))?;
        let values = {
            let view = staging
                .raw()
                .slice(0..self.bytes)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading a readback buffer: {e}")))?;
            bytemuck::pod_collect_to_vec::<u8, f32>(&view)
        };
        staging.raw().unmap();
        let mut rest = values.as_slice();
        Ok(self
            .lengths
            .iter()
            .map(|&n| {
                let (head, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                head.to_vec()
            })
            .collect())
    }
}

impl Drop for PendingRead {
    fn drop(&mut self) {
        // A buffer whose mapping may still be pending must not be handed out again.
        if let Some(staging) = self.staging.take() {
            std::mem::forget(staging);
        }
    }
}

/// An open wgpu device with its runtime: pipeline cache, buffer pool, command recorder.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    pool: Arc<BufferPool>,
    pipelines: Mutex<PipelineCache>,
    recorder: Mutex<Recorder>,
    faults: Arc<Mutex<Faults>>,
    waits: Arc<HostWaits>,
    unit: std::sync::OnceLock<Arc<GpuBuffer>>,
    occupancy: usize,
    /// Which limits the device was opened with.
    limits_choice: DeviceLimits,
    /// The kernel variants chosen for the shapes met so far.
    tuner: Mutex<Tuner>,
}

/// What wgpu reported outside any error scope, kept until the next call that can
/// return it.
#[derive(Default)]
struct Faults {
    /// The first uncaptured error since the last report; reported once.
    first: Option<String>,
    /// Why the device was lost; reported by every later call.
    lost: Option<String>,
}

/// Features wgnn asks for when the adapter offers them.
fn wanted_features() -> wgpu::Features {
    wgpu::Features::IMMEDIATES
        | wgpu::Features::SUBGROUP
        | wgpu::Features::SHADER_F16
        | wgpu::Features::TIMESTAMP_QUERY
}

fn device_type_rank(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl GpuContext {
    /// Opens the adapter `options` selects, with the limits and optional features they
    /// choose (by default the adapter's own limits and every wanted feature it has).
    pub fn new(options: &GpuOptions) -> Result<Self> {
        let chosen_limits = options.chosen_limits()?;
        let left_off = options.features_left_off()?;
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        if let Some(wanted) = &options.adapter {
            let wanted = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&wanted));
            if adapters.is_empty() {
                return Err(Error::NoAdapter(format!(
                    "no adapter name contains {wanted:?}; found {names:?}"
                )));
            }
        }
        adapters.sort_by_key(|a| device_type_rank(a.get_info().device_type));
        let adapter = adapters.into_iter().next().ok_or_else(|| {
            Error::NoAdapter(
                "no Vulkan, Metal or DX12 adapter found (on Linux without a GPU, install \
                 mesa-vulkan-drivers for the software adapter)"
                    .into(),
            )
        })?;
        let info = adapter.get_info();
        let features = adapter.features() & wanted_features() & !left_off;
        let limits = chosen_limits.resolve(&adapter.limits());
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgnn"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::NoAdapter(format!("{}: {e}", info.name)))?;

        let faults = Arc::new(Mutex::new(Faults::default()));
        let sink = faults.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).first.get_or_insert_with(|| e.to_string());
        }));
        let sink = faults.clone();
        device.set_device_lost_callback(move |reason, message| {
            lock(&sink).lost.get_or_insert_with(|| {
                format!("the GPU device was lost ({reason:?}: {message}); open a new one")
            });
        });

        let immediates = features.contains(wgpu::Features::IMMEDIATES)
            && limits.max_immediate_size >= PARAM_BYTES;
        let mode = if immediates {
            ParamsMode::Immediates
        } else {
            ParamsMode::UniformArena
        };
        let cache = PipelineCache::new(device.clone(), mode);
        let waits = Arc::new(HostWaits::default());
        let recorder = Recorder::new(
            device.clone(),
            queue.clone(),
            &cache,
            options.max_pending,
            limits.min_uniform_buffer_offset_alignment,
            features,
            waits.clone(),
        );
        let occupancy = options.chosen_occupancy(&info)?;
        let tune_file = options
            .tune_file
            .clone()
            .or_else(|| super::tune::default_cache_file(&info));
        let tuner = Tuner::new(options.chosen_autotune()?, tune_file, &info);
        Ok(GpuContext {
            pool: BufferPool::new(device.clone()),
            device,
            queue,
            info,
            limits,
            features,
            pipelines: Mutex::new(cache),
            recorder: Mutex::new(recorder),
            faults,
            waits,
            unit: std::sync::OnceLock::new(),
            occupancy,
            limits_choice: chosen_limits,
            tuner: Mutex::new(tuner),
        })
    }

    /// The wgpu device, for programs that run their own kernels beside wgnn's. Work they
    /// submit is ordered with wgnn's only after [`GpuContext::flush`].
    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The adapter's description.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was opened with ([`GpuOptions::limits`]).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The optional features enabled.
    pub fn features(&self) -> wgpu::Features {
        self.features
    }

    /// Whether per-dispatch parameters travel as immediates (else a uniform arena).
    pub fn uses_immediates(&self) -> bool {
        lock(&self.pipelines).mode() == ParamsMode::Immediates
    }

    /// Workgroups a product over 10 MFLOP launches at least, splitting its tiles or its k
    /// (0: never split); see [`GpuOptions::occupancy`].
    pub fn occupancy(&self) -> usize {
        self.occupancy
    }

    /// How this device tunes its kernels ([`GpuOptions::autotune`]).
    pub fn autotune(&self) -> Autotune {
        lock(&self.tuner).mode()
    }

    /// Whether the autotuner times variants by GPU timestamps (the adapter has
    /// TIMESTAMP_QUERY) rather than by the host's clock around a submit and wait.
    pub fn tunes_by_timestamps(&self) -> bool {
        lock(&self.recorder).tunes_by_timestamps
    }

    /// The file tuning choices are read from and written to, if any.
    pub fn tune_file(&self) -> Option<std::path::PathBuf> {
        lock(&self.tuner).file().map(Into::into)
    }

    /// Makes `op` (`"matmul"`) take the variant named `variant` wherever it is eligible
    /// (elsewhere the fixed rule's choice), or, with `None`, tune or follow the rule again:
    /// for tests and benchmarks that compare variants. The names are those
    /// [`GpuContext::tuning_records`] lists.
    pub fn force_variant(&self, op: &str, variant: Option<&str>) {
        lock(&self.tuner).force(op, variant);
    }

    /// Pauses the autotuner (`true`) or ends one pause (`false`); see
    /// [`Device::without_tuning`](crate::Device::without_tuning).
    pub(crate) fn pause_tuning(&self, paused: bool) {
        lock(&self.tuner).pause(paused);
    }

    /// Whether a variant of `op` is forced ([`GpuContext::force_variant`]).
    pub(crate) fn is_forced(&self, op: &str) -> bool {
        lock(&self.tuner).is_forced(op)
    }

    /// What tuning decided in this process so far, and the time it took; and why the
    /// choices could not be kept on disk, if they could not.
    pub fn tuning_records(&self) -> (Vec<TuneRecord>, std::time::Duration, Option<String>) {
        let tuner = lock(&self.tuner);
        let (records, spent) = tuner.records();
        (records, spent, tuner.write_error().map(String::from))
    }

    /// The variant among `candidates` (names) that `key`'s op takes: a forced one, one
    /// chosen earlier (in this process or a cached one), or, when tuning may, the fastest
    /// by `run(index, dispatches)` (see [`GpuContext::time_alone`]); else `fallback`, the
    /// fixed rule's.
    pub(crate) fn choose_variant(
        &self,
        key: ShapeKey,
        candidates: &[String],
        fallback: usize,
        run: impl FnMut(usize, u32) -> Option<std::time::Duration>,
    ) -> usize {
        let (mode, time_left) = {
            let mut tuner = lock(&self.tuner);
            if let Some(known) = tuner.known(&key, candidates, fallback) {
                return known;
            }
            if tuner.is_paused() {
                return fallback;
            }
            if candidates.len() < 2 || !tuner.may_tune() {
                tuner.settle(key, fallback);
                return fallback;
            }
            (tuner.mode(), tuner.time_left())
        };
        // The GPU finishes what is recorded first (a host wait), so that its time is
        // not counted as tuning's.
        let _ = self.synchronize();
        let start = std::time::Instant::now();
        let tuned = super::tune::time_candidates(mode, &key, candidates, fallback, time_left, run);
        let mut tuner = lock(&self.tuner);
        match tuned {
            Some((index, record)) => {
                tuner.keep(key, index, record, start.elapsed());
                index
            }
            None => {
                tuner.settle(key, fallback);
                fallback
            }
        }
    }

    /// Runs `dispatches` dispatches of `kernel` alone and waits for them (after submitting
    /// what is recorded); returns their time, or None if the device failed: between GPU
    /// timestamps at the start and end of their pass where the adapter has TIMESTAMP_QUERY
    /// ([`GpuContext::tunes_by_timestamps`]), else the host's clock around the submit and
    /// wait. For the autotuner; counted in no statistic.
    pub(crate) fn time_alone(
        &self,
        kernel: &Kernel,
        reads: &[&GpuBuffer],
        writes: &[&GpuBuffer],
        params: Params,
        groups: [u32; 3],
        dispatches: u32,
    ) -> Option<std::time::Duration> {
        let mut pipelines = lock(&self.pipelines);
        lock(&self.recorder).time_alone(
            &mut pipelines,
            kernel,
            reads,
            writes,
            &params,
            groups,
            dispatches,
        )
    }

    /// Whether this is a software adapter (lavapipe, WARP, ...).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The largest buffer a kernel may bind, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// A multi-line description of the adapter and what the device was opened with.
    pub fn describe(&self) -> String {
        let features: Vec<String> = self.features.iter_names().map(|(n, _)| n.into()).collect();
        format!(
            "GPU: {} ({:?}, {:?})\ndriver: {} {}\nlimits: {}: storage binding {} MiB, buffer {} MiB, \
             workgroup storage {} KiB, {} invocations\nfeatures: {}\nparameters via: {}\n\
             autotuning: {:?}, timed by {}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info,
            match self.limits_choice {
                DeviceLimits::Adapter => "the adapter's",
                DeviceLimits::WebGpuDefault => "WebGPU's defaults",
            },
            self.limits.max_storage_buffer_binding_size >> 20,
            self.limits.max_buffer_size >> 20,
            self.limits.max_compute_workgroup_storage_size >> 10,
            self.limits.max_compute_invocations_per_workgroup,
            if features.is_empty() {
                "none".to_string()
            } else {
                features.join(", ")
            },
            if self.uses_immediates() {
                "immediates"
            } else {
                "uniform arena"
            },
            self.autotune(),
            if self.tunes_by_timestamps() {
                "GPU timestamps"
            } else {
                "the host's clock"
            }
        )
    }

    /// Runtime counters.
    pub fn stats(&self) -> GpuStats {
        // Lock order everywhere: pipelines before recorder.
        let (created, reused, bytes) = self.pool.counters();
        let pipelines = lock(&self.pipelines).len();
        let (dispatches, submits, bind_groups) = {
            let recorder = lock(&self.recorder);
            (
                recorder.dispatches,
                recorder.submits,
                recorder.cached_bind_groups(),
            )
        };
        let (host_waits, host_wait_nanos, host_wait_cpu_nanos) = self.waits.totals();
        GpuStats {
            buffers_created: created,
            buffers_reused: reused,
            bytes_created: bytes,
            bytes_held: self.pool.bytes_held(),
            pipelines,
            bind_groups,
            dispatches,
            submits,
            host_waits,
            host_wait_nanos,
            host_wait_cpu_nanos,
        }
    }

    /// Starts logging every dispatch recorded from now on (kernel, workgroups, declared
    /// flops), clearing what was logged, or with `false` stops and forgets the log. Tests
    /// and the bench use it to check how work is spread over the GPU without running on
    /// one; the counts are the same on every adapter with the same limits.
    pub fn log_launches(&self, on: bool) {
        lock(&self.recorder).log_launches(on);
    }

    /// The dispatches logged since [`GpuContext::log_launches`] or the last call, in
    /// recording order; empty when the log is off.
    pub fn take_launches(&self) -> Vec<Launch> {
        lock(&self.recorder).take_launches()
    }

    /// A storage buffer for `floats` f32 values (contents undefined).
    pub fn alloc(&self, floats: usize, what: &str) -> Result<GpuBuffer> {
        let bytes = (floats.max(1) as u64) * 4;
        let limit = self.max_binding_bytes();
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
            });
        }
        self.take(BufferKind::Storage, bytes, what)
    }

    /// A buffer from the pool. When the device is out of memory, finishes the pending
    /// work, frees the pool's idle buffers and tries once more before giving up.
    fn take(&self, kind: BufferKind, bytes: u64, what: &str) -> Result<GpuBuffer> {
        if let Some(buffer) = self.pool.take(kind, bytes) {
            return Ok(buffer);
        }
        self.synchronize()?;
        self.trim();
        self.pool
            .take(kind, bytes)
            .ok_or_else(|| Error::OutOfMemory {
                what: what.to_string(),
                bytes,
                held: self.pool.bytes_held(),
            })
    }

    /// A storage buffer holding `data`.
    pub fn upload(&self, data: &[f32]) -> Result<GpuBuffer> {
        self.upload_bytes(bytemuck::cast_slice(data))
    }

    /// A storage buffer holding `data` (zero-padded to a whole number of 32-bit words).
    pub fn upload_bytes(&self, data: &[u8]) -> Result<GpuBuffer> {
        let buffer = self.alloc(data.len().div_ceil(4), "upload")?;
        if !data.is_empty() {
            // queue.write_buffer lands before the next submit: submit what is recorded
            // first, so that earlier dispatches on a recycled buffer see its old contents.
            let mut recorder = lock(&self.recorder);
            if recorder.has_pending() {
                recorder.submit();
            }
            let whole = data.len() / 4 * 4;
            if whole > 0 {
                self.queue.write_buffer(buffer.raw(), 0, &data[..whole]);
            }
            if whole < data.len() {
                let mut tail = [0u8; 4];
                tail[..data.len() - whole].copy_from_slice(&data[whole..]);
                self.queue.write_buffer(buffer.raw(), whole as u64, &tail);
            }
        }
        Ok(buffer)
    }

    /// A one-value buffer holding 1.0, uploaded once per device and shared: the seed of
    /// every `backward()`, which rules recognise to skip scaling by it. Never written.
    pub(crate) fn unit(&self) -> Result<Arc<GpuBuffer>> {
        if let Some(unit) = self.unit.get() {
            return Ok(unit.clone());
        }
        let unit = Arc::new(self.upload(&[1.0])?);
        Ok(self.unit.get_or_init(|| unit).clone())
    }

    /// Whether `buffer` is [`GpuContext::unit`]'s, without creating it.
    pub(crate) fn is_unit(&self, buffer: &Arc<GpuBuffer>) -> bool {
        self.unit
            .get()
            .is_some_and(|unit| Arc::ptr_eq(buffer, unit))
    }

    /// A storage buffer of `floats` zeros, cleared in the command stream.
    pub fn zeros(&self, floats: usize) -> Result<GpuBuffer> {
        let buffer = self.alloc(floats, "zero tensor")?;
        lock(&self.recorder).clear(buffer.raw(), (floats.max(1) as u64) * 4);
        Ok(buffer)
    }

    /// Records a copy of `floats` values from `src` to `dst`.
    pub fn copy(&self, src: &GpuBuffer, dst: &GpuBuffer, floats: usize) {
        if floats > 0 {
            lock(&self.recorder).copy(src.raw(), dst.raw(), floats as u64 * 4);
        }
    }

    /// Records copying `floats` values from the start of `src` to `dst` at float
    /// `offset`.
    pub(crate) fn copy_at(&self, src: &GpuBuffer, dst: &GpuBuffer, offset: usize, floats: usize) {
        if floats > 0 {
            lock(&self.recorder).copy_at(
                src.raw(),
                dst.raw(),
                offset as u64 * 4,
                floats as u64 * 4,
            );
        }
    }

    /// Records one dispatch of `kernel`.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        reads: &[&GpuBuffer],
        writes: &[&GpuBuffer],
        params: Params,
        groups: [u32; 3],
    ) {
        let start = crate::profile::enabled().then(std::time::Instant::now);
        let mut pipelines = lock(&self.pipelines);
        lock(&self.recorder).dispatch(&mut pipelines, kernel, reads, writes, &params, groups);
        if let Some(start) = start {
            crate::profile::add_recording(start.elapsed());
        }
    }

    /// Workgroup counts covering `threads` threads in groups of `size`, folded into two
    /// dimensions under the 65535 per-dimension limit. Shaders recover the linear index
    /// as `(wid.y * nwg.x + wid.x) * size + lid.x`.
    pub fn groups_1d(&self, threads: usize, size: usize) -> [u32; 3] {
        let groups = threads.div_ceil(size).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension.max(1) as usize;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            [max as u32, groups.div_ceil(max) as u32, 1]
        }
    }

    /// Submits what is recorded, without waiting.
    pub fn flush(&self) -> Result<()> {
        lock(&self.recorder).submit();
        self.take_fault()
    }

    /// Submits what is recorded and waits for the GPU to finish it.
    pub fn synchronize(&self) -> Result<()> {
        self.flush()?;
        self.wait()?;
        self.take_fault()
    }

    /// Reads `floats` values from `buffer`: submits, waits, maps a staging buffer.
    pub fn read(&self, buffer: &GpuBuffer, floats: usize) -> Result<Vec<f32>> {
        if floats == 0 {
            return Ok(Vec::new());
        }
        let read = self.read_async(&[(buffer, floats)])?;
        Ok(self.finish(read)?.pop().unwrap_or_default())
    }

    /// Blocks until the GPU has finished everything submitted (one host wait).
    fn wait(&self) -> Result<()> {
        self.waits
            .wait(&self.device)
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// Starts reading `floats` values from each of `buffers` into one staging buffer:
    /// records the copies, submits, and asks for the mapping, without waiting. The values
    /// arrive through [`GpuContext::try_finish`] (never blocks) or
    /// [`GpuContext::finish`] (blocks once).
    pub fn read_async(&self, buffers: &[(&GpuBuffer, usize)]) -> Result<PendingRead> {
        let lengths: Vec<usize> = buffers.iter().map(|(_, floats)| *floats).collect();
        let bytes = (lengths.iter().sum::<usize>().max(1) as u64) * 4;
        let staging = self.take(BufferKind::Readback, bytes, "readback")?;
        {
            let mut recorder = lock(&self.recorder);
            let mut offset = 0u64;
            for (buffer, floats) in buffers.iter().filter(|(_, f)| *f > 0) {
                recorder.copy_at(buffer.raw(), staging.raw(), offset, *floats as u64 * 4);
                offset += *floats as u64 * 4;
            }
            recorder.submit();
        }
        self.take_fault()?;
        let (sender, receiver) = mpsc::channel();
        staging
            .raw()
            .slice(0..bytes)
            .map_async(wgpu::MapMode::Read, move |result| {
                let _ = sender.send(result);
            });
        Ok(PendingRead {
            staging: Some(staging),
            bytes,
            lengths,
            receiver,
        })
    }

    /// The values of `read` if they have arrived (polling the device without blocking);
    /// `None` while the GPU is still working.
    pub fn try_finish(&self, read: &mut PendingRead) -> Result<Option<Vec<Vec<f32>>>> {
        self.device
            .poll(wgpu::PollType::Poll)
            .map_err(|e| Error::Gpu(format!("polling the GPU: {e}")))?;
        self.take_fault()?;
        match read.receiver.try_recv() {
            Ok(mapped) => read.take(mapped).map(Some),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => {
                Err(Error::Gpu("readback never completed".into()))
            }
        }
    }

    /// The values of `read`, waiting for the GPU (one host wait).
    pub fn finish(&self, mut read: PendingRead) -> Result<Vec<Vec<f32>>> {
        self.wait()?;
        self.take_fault()?;
        match read.receiver.recv() {
            Ok(mapped) => read.take(mapped),
            Err(_) => Err(Error::Gpu("readback never completed".into())),
        }
    }

    /// Frees the pool's idle buffers.
    pub fn trim(&self) {
        lock(&self.recorder).clear_bind_groups();
        self.pool.trim();
    }

    fn take_fault(&self) -> Result<()> {
        let mut faults = lock(&self.faults);
        let first = faults.first.take();
        match (&faults.lost, first) {
            (Some(lost), _) => Err(Error::Gpu(lost.clone())),
            (None, Some(message)) => Err(Error::Gpu(message)),
            (None, None) => Ok(()),
        }
    }
}
