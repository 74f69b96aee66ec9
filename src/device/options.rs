//! How a GPU device is opened: which adapter, which limits, which optional features, and
//! the runtime's own knobs. Each has an environment variable, so that a whole test suite
//! or a user's program can be run under WebGPU's default limits, without immediates and
//! so on, without changing its code.

use super::recorder::DEFAULT_MAX_PENDING;
use super::tune::Autotune;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// The limits a device is opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceLimits {
    /// Everything the adapter offers (the fastest choice).
    Adapter,
    /// WebGPU's defaults (`wgpu::Limits::default()`): what every WebGPU adapter has, so a
    /// program that passes under them runs on any adapter. Where the adapter offers less
    /// than a default, its own value is taken.
    WebGpuDefault,
}

impl DeviceLimits {
    /// Parses `adapter` or `default` (also `webgpu`), as `$WGNN_LIMITS` takes them.
    pub fn parse(text: &str) -> Result<DeviceLimits> {
        match text.trim().to_ascii_lowercase().as_str() {
            "adapter" | "" => Ok(DeviceLimits::Adapter),
            "default" | "webgpu" => Ok(DeviceLimits::WebGpuDefault),
            other => Err(invalid(format!(
                "limits: expected `adapter` or `default`, got {other:?}"
            ))),
        }
    }

    /// The limits to ask for on an adapter that offers `adapter`.
    pub fn resolve(self, adapter: &wgpu::Limits) -> wgpu::Limits {
        match self {
            DeviceLimits::Adapter => adapter.clone(),
            DeviceLimits::WebGpuDefault => wgpu::Limits::default().or_worse_values_from(adapter),
        }
    }
}

/// The optional features wgnn uses when the adapter has them, with the names
/// `$WGNN_WITHOUT` takes to turn each off.
pub const OPTIONAL_FEATURES: [(&str, wgpu::Features); 4] = [
    ("immediates", wgpu::Features::IMMEDIATES),
    ("subgroup", wgpu::Features::SUBGROUP),
    ("f16", wgpu::Features::SHADER_F16),
    ("timestamps", wgpu::Features::TIMESTAMP_QUERY),
];

/// Parses a comma-separated list of [`OPTIONAL_FEATURES`] names (as `$WGNN_WITHOUT` takes
/// them) into the features they name.
pub fn parse_features(text: &str) -> Result<wgpu::Features> {
    let mut features = wgpu::Features::empty();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        let (_, feature) = OPTIONAL_FEATURES
            .iter()
            .find(|(known, _)| *known == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = OPTIONAL_FEATURES.iter().map(|(n, _)| *n).collect();
                invalid(format!(
                    "features to leave off: expected names among {known:?}, got {name:?}"
                ))
            })?;
        features |= *feature;
    }
    Ok(features)
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument {
        op: "GpuOptions",
        message,
    }
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

/// `option` when set, else `$var` parsed by `parse` when set, else `default`.
fn option_or_env<T>(
    option: Option<T>,
    var: &str,
    parse: impl FnOnce(&str) -> Result<T>,
    default: T,
) -> Result<T> {
    match (option, env_text(var)) {
        (Some(value), _) => Ok(value),
        (None, Some(text)) => parse(&text),
        (None, None) => Ok(default),
    }
}

/// Options for opening a GPU device.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Pick the first adapter whose name contains this (case-insensitive). Defaults to
    /// `$WGNN_ADAPTER`.
    pub adapter: Option<String>,
    /// The limits to open the device with. `None` (the default) is `$WGNN_LIMITS`
    /// (`adapter` or `default`), else the adapter's own.
    pub limits: Option<DeviceLimits>,
    /// Optional features to leave off even where the adapter has them (see
    /// [`OPTIONAL_FEATURES`]): without immediates, per-dispatch parameters travel in a
    /// uniform arena. `None` (the default) is `$WGNN_WITHOUT`, a comma-separated list
    /// such as `immediates,subgroup`, else none.
    pub without_features: Option<wgpu::Features>,
    /// Dispatches recorded before the recorder submits on its own.
    pub max_pending: usize,
    /// Workgroups a product doing over 10 MFLOP must launch: one whose usual 64x64 tiles
    /// launch fewer takes smaller tiles or splits its k over workgroups, so that a large
    /// GPU is not left idle. `None` (the default) is `$WGNN_OCCUPANCY` when set, else 256
    /// on a hardware adapter and 0 (no splitting) on a software one such as lavapipe,
    /// whose few CPU cores run fewer, larger workgroups faster.
    pub occupancy: Option<usize>,
    /// How much kernels are tuned on this adapter. `None` (the default) is
    /// `$WGNN_AUTOTUNE` (`off`, `fast` or `full`), else [`Autotune::Fast`].
    pub autotune: Option<Autotune>,
    /// The file tuning choices are kept in. `None` (the default) is one file per adapter
    /// under `$WGNN_CACHE_DIR`, else under the platform's cache directory (`wgnn/` in
    /// `~/.cache` on Linux).
    pub tune_file: Option<PathBuf>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            adapter: env_text("WGNN_ADAPTER"),
            limits: None,
            without_features: None,
            max_pending: DEFAULT_MAX_PENDING,
            occupancy: None,
            autotune: None,
            tune_file: None,
        }
    }
}

impl GpuOptions {
    /// The limits chosen, from the options or the environment.
    pub(crate) fn chosen_limits(&self) -> Result<DeviceLimits> {
        option_or_env(
            self.limits,
            "WGNN_LIMITS",
            DeviceLimits::parse,
            DeviceLimits::Adapter,
        )
    }

    /// The features left off, from the options or the environment.
    pub(crate) fn features_left_off(&self) -> Result<wgpu::Features> {
        option_or_env(
            self.without_features,
            "WGNN_WITHOUT",
            parse_features,
            wgpu::Features::empty(),
        )
    }

    /// The tuning mode chosen, from the options or the environment.
    pub(crate) fn chosen_autotune(&self) -> Result<Autotune> {
        option_or_env(
            self.autotune,
            "WGNN_AUTOTUNE",
            Autotune::parse,
            Autotune::Fast,
        )
    }

    /// The occupancy chosen for `info`'s adapter: the option, else `$WGNN_OCCUPANCY`, else
    /// 256 on hardware and 0 on a software adapter.
    pub(crate) fn chosen_occupancy(&self, info: &wgpu::AdapterInfo) -> Result<usize> {
        let default = if info.device_type == wgpu::DeviceType::Cpu {
            0
        } else {
            256
        };
        let parse = |text: &str| {
            text.trim().parse().map_err(|_| {
                invalid(format!(
                    "occupancy ($WGNN_OCCUPANCY): expected a number of workgroups, got {text:?}"
                ))
            })
        };
        option_or_env(self.occupancy, "WGNN_OCCUPANCY", parse, default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_features_parse_their_names_and_refuse_others() {
        assert_eq!(
            DeviceLimits::parse(" Default ").unwrap(),
            DeviceLimits::WebGpuDefault
        );
        assert_eq!(
            DeviceLimits::parse("adapter").unwrap(),
            DeviceLimits::Adapter
        );
        let err = DeviceLimits::parse("tiny").unwrap_err().to_string();
        assert!(err.contains("`default`") && err.contains("tiny"), "{err}");
        assert_eq!(
            parse_features("immediates, F16").unwrap(),
            wgpu::Features::IMMEDIATES | wgpu::Features::SHADER_F16
        );
        assert_eq!(parse_features("").unwrap(), wgpu::Features::empty());
        let err = parse_features("subgroups").unwrap_err().to_string();
        assert!(
            err.contains("\"subgroups\"") && err.contains("subgroup"),
            "{err}"
        );
    }

    #[test]
    fn default_limits_never_ask_for_more_than_the_adapter_has() {
        let small = wgpu::Limits {
            max_storage_buffers_per_shader_stage: 4,
            max_compute_workgroup_storage_size: 1 << 20,
            ..wgpu::Limits::default()
        };
        let resolved = DeviceLimits::WebGpuDefault.resolve(&small);
        assert_eq!(resolved.max_storage_buffers_per_shader_stage, 4);
        assert_eq!(resolved.max_compute_workgroup_storage_size, 16384);
    }
}
