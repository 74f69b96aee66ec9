// Prepended to every wgnn shader: the workgroup size of 1-D kernels, the linear thread
// index and counter-based random numbers; then one of the two workgroup reductions,
// shaders/workgroup_tree.wgsl or shaders/workgroup_subgroups.wgsl.

// Threads per workgroup of the 1-D kernels. The reducing kernels (one workgroup per row)
// declare `@workgroup_size(WG)` and are specialised to 64, 128 or 256 threads; the others
// keep 256.
override WG: u32 = 256u;

// Room for one value per thread at the largest WG.
var<workgroup> scratch: array<f32, 256>;

// Linear index of a thread in a 1-D launch folded into two dimensions.
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// Offset of element `i` of a tensor of (front-padded) dims d, read through strides s.
fn strided_offset(i: u32, d: vec4<u32>, s: vec4<u32>) -> u32 {
    var rem = i;
    let i3 = rem % d.w;
    rem = rem / d.w;
    let i2 = rem % d.z;
    rem = rem / d.z;
    let i1 = rem % d.y;
    let i0 = rem / d.y;
    return i0 * s.x + i1 * s.y + i2 * s.z + i3 * s.w;
}

// 1 / (1 + e^-x), without overflow for large |x|.
fn stable_sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// log(1 + e^x), without overflow for large x.
fn stable_softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// PCG's output permutation of v: a 32-bit hash.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Element i of the uniform [0, 1) stream of a 64-bit seed, with 24 random bits; the CPU
// twin is `uniform01` in src/ops/random.rs.
fn seeded_uniform(i: u32, seed_lo: u32, seed_hi: u32) -> f32 {
    let bits = pcg_hash(i ^ pcg_hash(seed_lo ^ pcg_hash(seed_hi)));
    return f32(bits >> 8u) / 16777216.0;
}
