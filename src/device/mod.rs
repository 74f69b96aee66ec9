//! Devices: the GPU through wgpu, or the CPU path behind the same API.

mod context;
mod options;
mod params;
mod pipelines;
mod pool;
mod recorder;
mod tune;
mod waits;

pub use context::{GpuContext, GpuStats, PendingRead};
pub use options::{parse_features, DeviceLimits, GpuOptions, OPTIONAL_FEATURES};
pub use params::Params;
pub use pipelines::Kernel;
pub(crate) use pipelines::{SUBGROUPS, SUBGROUP_TWINS};
pub use pool::GpuBuffer;
pub use recorder::Launch;
pub(crate) use tune::ShapeKey;
pub use tune::{Autotune, TuneRecord, FAST_BUDGET};
pub use waits::thread_cpu_time;

use crate::error::Result;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Where tensors live and ops run. Cheap to clone.
#[derive(Clone)]
pub enum Device {
    /// The CPU path: plain `Vec<f32>` storage and multi-threaded CPU kernels.
    Cpu,
    /// A wgpu device; every op records GPU dispatches into one command stream.
    Gpu(Arc<GpuContext>),
}

static DEFAULT_GPU: OnceLock<std::result::Result<Arc<GpuContext>, crate::Error>> = OnceLock::new();

impl Device {
    /// The CPU path.
    pub fn cpu() -> Device {
        Device::Cpu
    }

    /// The process-wide GPU device: the high-performance adapter, or the one whose name
    /// contains `$WGNN_ADAPTER`. Software adapters (lavapipe) are accepted here.
    /// Opened once; later calls share it.
    pub fn gpu() -> Result<Device> {
        DEFAULT_GPU
            .get_or_init(|| GpuContext::new(&GpuOptions::default()).map(Arc::new))
            .clone()
            .map(Device::Gpu)
    }

    /// A new GPU device opened with explicit options (not shared with [`Device::gpu`]).
    pub fn gpu_with(options: &GpuOptions) -> Result<Device> {
        GpuContext::new(options).map(|ctx| Device::Gpu(Arc::new(ctx)))
    }

    /// A hardware GPU if there is one, else the CPU path, saying so on stderr. A software
    /// adapter such as lavapipe is far slower than the CPU path, so it is passed over.
    pub fn best() -> Device {
        match Device::gpu() {
            Ok(Device::Gpu(ctx)) if !ctx.is_software() => Device::Gpu(ctx),
            Ok(Device::Gpu(ctx)) => {
                eprintln!(
                    "wgnn: only a software GPU adapter ({}) was found; using the CPU path",
                    ctx.info().name
                );
                Device::Cpu
            }
            Ok(Device::Cpu) => Device::Cpu,
            Err(e) => {
                eprintln!("wgnn: no GPU ({e}); using the CPU path");
                Device::Cpu
            }
        }
    }

    /// "gpu" or "cpu", for tables.
    pub(crate) fn label(&self) -> &'static str {
        if self.is_gpu() {
            "gpu"
        } else {
            "cpu"
        }
    }

    /// Whether this is the GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(_))
    }

    /// The GPU context, if this is a GPU device.
    pub fn gpu_context(&self) -> Option<&Arc<GpuContext>> {
        match self {
            Device::Gpu(ctx) => Some(ctx),
            Device::Cpu => None,
        }
    }

    /// Whether two handles name the same device.
    pub fn same_as(&self, other: &Device) -> bool {
        match (self, other) {
            (Device::Cpu, Device::Cpu) => true,
            (Device::Gpu(a), Device::Gpu(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Runs `f` with the autotuner paused on this device: a shape met for the first time
    /// takes the fixed rule's variant and is not remembered, so that a later call tunes
    /// it. For work whose shapes training never meets, such as a model summary's batch
    /// of one, which would otherwise spend the first run's tuning budget. The CPU has
    /// nothing to tune.
    pub fn without_tuning<T>(&self, f: impl FnOnce() -> T) -> T {
        let Device::Gpu(ctx) = self else {
            return f();
        };
        /// Ends the pause however `f` leaves.
        struct Resume<'a>(&'a GpuContext);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.pause_tuning(false);
            }
        }
        ctx.pause_tuning(true);
        let _resume = Resume(ctx);
        f()
    }

    /// Waits until every recorded GPU operation has finished (no-op on the CPU), and
    /// reports any error the GPU raised meanwhile.
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Gpu(ctx) => ctx.synchronize(),
        }
    }

    /// A multi-line description: adapter, backend, driver, limits, features.
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => format!(
                "CPU path: {} ({} threads)",
                cpu_model(),
                std::thread::available_parallelism().map_or(1, |n| n.get())
            ),
            Device::Gpu(ctx) => ctx.describe(),
        }
    }
}

/// The processor's model name where the system says it (Linux), else its architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Gpu(ctx) => write!(f, "gpu({})", ctx.info().name),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
