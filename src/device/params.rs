//! Per-dispatch parameters: twenty 32-bit words, delivered as immediates where the
//! adapter has them, else through a uniform arena with dynamic offsets.

/// Number of 32-bit words every kernel's `Params` struct may use.
pub const PARAM_WORDS: usize = 20;
/// Size in bytes of a dispatch's parameter block.
pub const PARAM_BYTES: u32 = (PARAM_WORDS * 4) as u32;

/// The parameter block of one dispatch, filled in the order the shader's `Params`
/// struct declares its fields.
#[derive(Clone, Copy, Default)]
pub struct Params {
    words: [u32; PARAM_WORDS],
    len: usize,
    flops: Option<u64>,
}

impl Params {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a `u32` field. Sizes past `u32::MAX` never reach here: buffers are capped
    /// far below by the binding limit.
    pub fn u(mut self, value: usize) -> Self {
        self.words[self.len] = value as u32;
        self.len += 1;
        self
    }

    /// Appends an `f32` field.
    pub fn f(mut self, value: f32) -> Self {
        self.words[self.len] = value.to_bits();
        self.len += 1;
        self
    }

    /// Declares the floating-point operations the dispatch does (not sent to the GPU): the
    /// launch log ([`crate::device::Launch`]) and the profiler weigh launches by it. Ops
    /// whose threads each do more than a few operations (products, reductions, the
    /// optimizer) declare it; a plain elementwise kernel does not.
    pub fn flops(mut self, flops: usize) -> Self {
        self.flops = Some(flops as u64);
        self
    }

    /// The operations declared with [`Params::flops`], if any.
    pub fn declared_flops(&self) -> Option<u64> {
        self.flops
    }

    /// The block as bytes (always the full twenty words).
    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
}
