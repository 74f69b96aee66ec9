// Counter-based random numbers: element i of a draw with a 64-bit seed hashes
// (i, seed) with PCG's output permutation, so any element can be made independently and
// the CPU twin (src/ops/random.rs) gives the same bits.

struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    p: f32,      // drop probability
    scale: f32,  // 1 / (1 - p)
}
//@params

@group(0) @binding(0) var<storage, read_write> mask: array<f32>;

fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in [0, 1) with 24 random bits.
fn uniform01(i: u32) -> f32 {
    let bits = pcg_hash(i ^ pcg_hash(P.seed_lo ^ pcg_hash(P.seed_hi)));
    return f32(bits >> 8u) / 16777216.0;
}

// mask[i] = 0 with probability p, else 1 / (1 - p) (inverted dropout).
@compute @workgroup_size(256)
fn dropout_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        mask[i] = select(P.scale, 0.0, uniform01(i) < P.p);
    }
}
