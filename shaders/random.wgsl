// Counter-based random numbers: element i of a draw with a 64-bit seed hashes
// (i, seed) with PCG's output permutation, so any element can be made independently and
// the CPU twin (src/ops/random.rs) gives the same bits.

struct Params {
    n: u32,
    p: f32,      // drop probability
    scale: f32,  // 1 / (1 - p)
    seed_lo: u32,
    seed_hi: u32,
}
//@params

@group(0) @binding(0) var<storage, read_write> mask: array<f32>;

// mask[i] = 0 with probability p, else 1 / (1 - p) (inverted dropout).
@compute @workgroup_size(256)
fn dropout_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        mask[i] = select(P.scale, 0.0, seeded_uniform(i, P.seed_lo, P.seed_hi) < P.p);
    }
}

@group(0) @binding(0) var<storage, read> drop_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> drop_out: array<f32>;

// Inverted dropout in one pass, the mask made as it is applied and never stored:
// out[i] = in[i] · mask(i). Backward runs the same kernel on the gradient with the same
// seed, so it regenerates the very mask forward used.
@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        let keep = seeded_uniform(i, P.seed_lo, P.seed_hi) >= P.p;
        drop_out[i] = select(0.0, drop_in[i] * P.scale, keep);
    }
}
