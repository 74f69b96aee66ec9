//! The pipeline cache: every WGSL entry point is compiled once per process per
//! specialization (its `override` constants), with layouts shared by binding signature.

use super::params::PARAM_BYTES;
use rustc_hash::FxHashMap as HashMap;

const MATMUL: &str = include_str!("../../shaders/matmul.wgsl");
const MATMUL_LARGE: &str = include_str!("../../shaders/matmul_large.wgsl");
const CONV2D: &str = include_str!("../../shaders/conv2d.wgsl");

/// The marker conv2d.wgsl puts where its second output goes.
const CONV_OUTPUTS_MARKER: &str = "//@conv_outputs";

/// The suffix of the GEMM families that also keep their pre-activation (`dense_pre`,
/// `dense_large_pre`, `conv2d_pre`), for an activation that saves its input.
const KEEPS_INPUT: &str = "_pre";

/// `keep_input(i, v)` for a GEMM output stage: stores the pre-activation v as element i
/// of `pre`, binding `binding`, in a `_pre` family; does nothing in the others.
fn keep_input(shader: &str, binding: u8) -> String {
    if shader.ends_with(KEEPS_INPUT) {
        format!(
            "@group(0) @binding({binding}) var<storage, read_write> pre: array<f32>;\n\
             fn keep_input(i: u32, v: f32) {{ pre[i] = v; }}"
        )
    } else {
        "fn keep_input(i: u32, v: f32) {}".to_string()
    }
}

/// The second output of conv2d family `shader`, at binding 4: the bias gradient for
/// `conv2d_row_sums`, the pre-activation for `conv2d_pre`, nothing for `conv2d`.
fn conv_outputs(shader: &str) -> String {
    let row_sums = if shader == "conv2d_row_sums" {
        "const ROW_SUMS: bool = true;\n\
         @group(0) @binding(4) var<storage, read_write> row_sums: array<f32>;\n\
         fn store_row_sum(i: u32, v: f32) { row_sums[i] = v; }"
    } else {
        "const ROW_SUMS: bool = false;\nfn store_row_sum(i: u32, v: f32) {}"
    };
    format!("{row_sums}\n{}", keep_input(shader, 4))
}

/// The WGSL sources, one file per kernel family, compiled into the library. A GEMM family
/// is a GEMM shader with the output stage its `//@gemm_output` marker receives: the
/// `matmul` families write C as computed, the `dense` families apply a bias and an
/// activation first (the `_pre` ones also keep the pre-activation), `matmul_row_sums` also
/// writes the row sums of op(A). The `_gated` families read A times an activation's
/// derivative (the `//@gemm_input` marker).
const SHADERS: &[(&str, &str)] = &[
    ("fill", include_str!("../../shaders/fill.wgsl")),
    ("gather", include_str!("../../shaders/gather.wgsl")),
    ("layout", include_str!("../../shaders/layout.wgsl")),
    ("unary", include_str!("../../shaders/unary.wgsl")),
    ("binary", include_str!("../../shaders/binary.wgsl")),
    ("conv2d", CONV2D),
    ("conv2d_row_sums", CONV2D),
    ("conv2d_pre", CONV2D),
    ("pool", include_str!("../../shaders/pool.wgsl")),
    ("augment", include_str!("../../shaders/augment.wgsl")),
    ("batch_norm", include_str!("../../shaders/batch_norm.wgsl")),
    ("matmul", MATMUL),
    ("matmul_large", MATMUL_LARGE),
    ("dense", MATMUL),
    ("matmul_row_sums", MATMUL),
    ("matmul_gated", MATMUL),
    ("matmul_row_sums_gated", MATMUL),
    ("dense_large", MATMUL_LARGE),
    ("dense_pre", MATMUL),
    ("dense_large_pre", MATMUL_LARGE),
    ("matmul_large_gated", MATMUL_LARGE),
    ("matmul_large_row_sums", MATMUL_LARGE),
    ("matmul_large_row_sums_gated", MATMUL_LARGE),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
    ("softmax", include_str!("../../shaders/softmax.wgsl")),
    ("loss", include_str!("../../shaders/loss.wgsl")),
    ("random", include_str!("../../shaders/random.wgsl")),
];

/// Helpers prepended to every shader.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// Workgroup-wide sum and maximum by a tree in workgroup memory, after `COMMON`.
const WORKGROUP_TREE: &str = include_str!("../../shaders/workgroup_tree.wgsl");
/// The same through subgroup operations, in the `_subgroups` families.
const WORKGROUP_SUBGROUPS: &str = include_str!("../../shaders/workgroup_subgroups.wgsl");

/// The suffix of a family whose workgroup reductions use subgroup operations: the family
/// named before it, compiled with shaders/workgroup_subgroups.wgsl. Only for adapters with
/// the SUBGROUP feature. (WGSL's `enable subgroups;` would declare them, but wgpu 30's
/// naga rejects that directive as not yet supported and takes the builtins without it.)
pub(crate) const SUBGROUPS: &str = "_subgroups";

/// The families that reduce within a workgroup, and their subgroup twins.
pub(crate) const SUBGROUP_TWINS: &[(&str, &str)] = &[
    ("reduce", "reduce_subgroups"),
    ("softmax", "softmax_subgroups"),
    ("loss", "loss_subgroups"),
    ("batch_norm", "batch_norm_subgroups"),
];

/// The marker each shader puts where its `Params` variable is declared.
const PARAMS_MARKER: &str = "//@params";

/// The marker a tiled-GEMM shader puts where the shared GEMM core goes.
const GEMM_TILES_MARKER: &str = "//@gemm_tiles";
/// The shared GEMM core (tile sizes, workgroup tiles, multiply_tiles).
const GEMM_TILES: &str = include_str!("../../shaders/gemm_tiles.wgsl");

/// The marker a shader puts where the 128x128-tile GEMM core goes.
const GEMM_LARGE_MARKER: &str = "//@gemm_large";
/// The 128x128-tile GEMM core (large_product and its workgroup tiles).
const GEMM_LARGE: &str = include_str!("../../shaders/gemm_large.wgsl");

/// The marker a shader puts where the activation functions go.
const ACTIVATION_MARKER: &str = "//@activation";
/// Every activation's forward and derivative, selected by op code.
const ACTIVATION: &str = include_str!("../../shaders/activation.wgsl");

/// The marker a GEMM shader puts where C's binding and its `store` functions go.
const GEMM_OUTPUT_MARKER: &str = "//@gemm_output";

/// The marker a GEMM shader puts where its `load_a` functions go.
const GEMM_INPUT_MARKER: &str = "//@gemm_input";
/// The suffix of the GEMM families whose A is gated by an activation's derivative.
const GATED: &str = "_gated";

/// The output stage of GEMM family `shader`: bias and activation for the `dense`
/// families, C and the row sums of op(A) for the `_row_sums` ones, C as computed otherwise.
/// A gated family's gate takes binding 2, so its output bindings move up by one.
fn gemm_output(shader: &str) -> String {
    let base = shader.strip_suffix(GATED).unwrap_or(shader);
    let stage = if base.ends_with("_row_sums") {
        include_str!("../../shaders/gemm_store_row_sums.wgsl").to_string()
    } else if base.starts_with("dense") {
        format!(
            "{}\n{}\n{ACTIVATION}",
            include_str!("../../shaders/gemm_store_dense.wgsl"),
            keep_input(base, 4)
        )
    } else {
        include_str!("../../shaders/gemm_store.wgsl").to_string()
    };
    if base == shader {
        stage
    } else {
        stage
            .replace("@binding(3)", "@binding(4)")
            .replace("@binding(2)", "@binding(3)")
    }
}

/// How GEMM family `shader` reads A: gated by an activation's derivative for the
/// `_gated` families, as stored otherwise.
fn gemm_input(shader: &str) -> String {
    if shader.ends_with(GATED) {
        format!(
            "{}\n{ACTIVATION}",
            include_str!("../../shaders/gemm_load_gated.wgsl")
        )
    } else {
        include_str!("../../shaders/gemm_load.wgsl").to_string()
    }
}

/// One kernel: a shader file, an entry point, its storage bindings and specialization.
/// Bindings are declared in the shader as `@group(0)`, the `reads` read-only buffers first,
/// then the `writes` read-write ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// Shader family (file name without `.wgsl`).
    pub shader: &'static str,
    /// Entry point.
    pub entry: &'static str,
    /// Number of read-only storage buffers.
    pub reads: u8,
    /// Number of read-write storage buffers.
    pub writes: u8,
    /// Values of the shader's `override` constants.
    pub constants: Vec<(&'static str, u32)>,
}

impl Kernel {
    /// A kernel without specialization constants.
    pub fn new(shader: &'static str, entry: &'static str, reads: u8, writes: u8) -> Self {
        Kernel {
            shader,
            entry,
            reads,
            writes,
            constants: Vec::new(),
        }
    }

    /// Sets an `override` constant.
    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }
}

/// How a dispatch receives its parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ParamsMode {
    /// `var<immediate>`, set per dispatch.
    Immediates,
    /// A uniform buffer at `@group(1) @binding(0)` with a dynamic offset.
    UniformArena,
}

pub(crate) struct PipelineCache {
    device: wgpu::Device,
    mode: ParamsMode,
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    storage_layouts: HashMap<(u8, u8), wgpu::BindGroupLayout>,
    pipeline_layouts: HashMap<(u8, u8), wgpu::PipelineLayout>,
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
    pub(crate) uniform_layout: Option<wgpu::BindGroupLayout>,
}

impl PipelineCache {
    pub(crate) fn new(device: wgpu::Device, mode: ParamsMode) -> Self {
        let uniform_layout = (mode == ParamsMode::UniformArena).then(|| {
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("wgnn params"),
                entries: &[wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: wgpu::BufferSize::new(PARAM_BYTES as u64),
                    },
                    count: None,
                }],
            })
        });
        PipelineCache {
            device,
            mode,
            modules: HashMap::default(),
            storage_layouts: HashMap::default(),
            pipeline_layouts: HashMap::default(),
            pipelines: HashMap::default(),
            uniform_layout,
        }
    }

    pub(crate) fn mode(&self) -> ParamsMode {
        self.mode
    }

    /// Number of compiled pipelines.
    pub(crate) fn len(&self) -> usize {
        self.pipelines.len()
    }

    /// The bind group layout for `reads` read-only then `writes` read-write buffers.
    pub(crate) fn storage_layout(&mut self, reads: u8, writes: u8) -> wgpu::BindGroupLayout {
        let device = &self.device;
        self.storage_layouts
            .entry((reads, writes))
            .or_insert_with(|| {
                let entries: Vec<_> = (0..reads + writes)
                    .map(|i| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Storage {
                                read_only: i < reads,
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("wgnn storage"),
                    entries: &entries,
                })
            })
            .clone()
    }

    /// The compiled pipeline for `kernel`, compiling it on first use.
    pub(crate) fn pipeline(&mut self, kernel: &Kernel) -> wgpu::ComputePipeline {
        if let Some(found) = self.pipelines.get(kernel) {
            return found.clone();
        }
        let storage = self.storage_layout(kernel.reads, kernel.writes);
        let layout = self.pipeline_layout(kernel.reads, kernel.writes, &storage);
        let module = self.module(kernel.shader);
        let constants: Vec<(&str, f64)> = kernel
            .constants
            .iter()
            .map(|&(name, value)| (name, value as f64))
            .collect();
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        self.pipelines.insert(kernel.clone(), pipeline.clone());
        pipeline
    }

    fn pipeline_layout(
        &mut self,
        reads: u8,
        writes: u8,
        storage: &wgpu::BindGroupLayout,
    ) -> wgpu::PipelineLayout {
        let device = &self.device;
        let mode = self.mode;
        let uniform = self.uniform_layout.as_ref();
        self.pipeline_layouts
            .entry((reads, writes))
            .or_insert_with(|| {
                let groups: Vec<Option<&wgpu::BindGroupLayout>> = match uniform {
                    Some(u) => vec![Some(storage), Some(u)],
                    None => vec![Some(storage)],
                };
                device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some("wgnn"),
                    bind_group_layouts: &groups,
                    immediate_size: if mode == ParamsMode::Immediates {
                        PARAM_BYTES
                    } else {
                        0
                    },
                })
            })
            .clone()
    }

    fn module(&mut self, shader: &'static str) -> wgpu::ShaderModule {
        let device = &self.device;
        let mode = self.mode;
        self.modules
            .entry(shader)
            .or_insert_with(|| {
                // The optimizers' step families are generated from their names.
                let (family, subgroups) = match shader.strip_suffix(SUBGROUPS) {
                    Some(family) => (family, true),
                    None => (shader, false),
                };
                let generated = crate::optim::step_kernel_source(shader);
                let source = SHADERS
                    .iter()
                    .find(|(name, _)| *name == family)
                    .map(|(_, src)| *src)
                    .or(generated.as_deref())
                    .unwrap_or_else(|| panic!("wgnn bug: no shader named {shader}"));
                let declaration = match mode {
                    ParamsMode::Immediates => "var<immediate> P: Params;",
                    ParamsMode::UniformArena => "@group(1) @binding(0) var<uniform> P: Params;",
                };
                let body = source
                    .replace(PARAMS_MARKER, declaration)
                    .replace(GEMM_TILES_MARKER, GEMM_TILES)
                    .replace(GEMM_LARGE_MARKER, GEMM_LARGE)
                    .replace(ACTIVATION_MARKER, ACTIVATION)
                    .replace(GEMM_OUTPUT_MARKER, &gemm_output(shader))
                    .replace(GEMM_INPUT_MARKER, &gemm_input(shader))
                    .replace(CONV_OUTPUTS_MARKER, &conv_outputs(shader));
                let reductions = if subgroups {
                    WORKGROUP_SUBGROUPS
                } else {
                    WORKGROUP_TREE
                };
                let code = format!("{COMMON}\n{reductions}\n{body}");
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader),
                    source: wgpu::ShaderSource::Wgsl(code.into()),
                })
            })
            .clone()
    }
}
