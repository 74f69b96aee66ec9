// Large-tile C = op(A) · op(B) for big matrices, on the 128x128-tile core (the gemm_large
// marker: shaders/gemm_large.wgsl). Every global load and store is a vec4, so each
// operand's contiguous axis and N must be multiples of 4 (src/ops/matmul_gpu.rs checks).
// C is written through `store4` (the gemm_output marker), as matmul.wgsl's `store`; A is
// read through `load_a4` (the gemm_input marker), gated in the `_gated` families; the
// `_row_sums` families also write the row sums of op(A), as matmul.wgsl's do.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_a: u32,
    batch_b: u32,
    batch_c: u32,
    alpha: f32, // the epilogue activation's parameter (dense kernels only)
    pen_l1: f32, // (matmul.wgsl's gated kernels only; the same words as its Params)
    pen_l2: f32,
    drop_p: f32, // dense kernels: the dropout after the activation (0: none)
    drop_scale: f32,
    seed_lo: u32,
    seed_hi: u32,
}
//@params

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
override ROW_SUMS: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
//@gemm_output
//@gemm_input
//@gemm_large

// Where this workgroup's product starts in A and B.
var<private> a_off: u32;
var<private> b_off: u32;

// This thread's vec4 of A for the step at k0, zero outside the matrix.
fn large_fetch_a(tid: u32, row0: u32, k0: u32) -> vec4<f32> {
    if (TRANS_A == 1u) {
        let gk = k0 + tid / 32u;
        let gm = row0 + (tid % 32u) * 4u;
        if (large_fetches_a(tid) && gk < P.k && gm < P.m) {
            return load_a4((a_off + gk * P.m + gm) / 4u);
        }
    } else {
        let gm = row0 + tid / 2u;
        let gk = k0 + (tid % 2u) * 4u;
        if (large_fetches_a(tid) && gm < P.m && gk < P.k) {
            return load_a4((a_off + gm * P.k + gk) / 4u);
        }
    }
    return vec4<f32>(0.0);
}

// This thread's vec4 of B for the step at k0, zero outside the matrix.
fn large_fetch_b(tid: u32, col0: u32, k0: u32) -> vec4<f32> {
    if (TRANS_B == 1u) {
        let gn = col0 + tid / 2u;
        let gk = k0 + (tid % 2u) * 4u;
        if (gn < P.n && gk < P.k) {
            return b4[(b_off + gn * P.k + gk) / 4u];
        }
    } else {
        let gk = k0 + tid / 32u;
        let gn = col0 + (tid % 32u) * 4u;
        if (gk < P.k && gn < P.n) {
            return b4[(b_off + gk * P.n + gn) / 4u];
        }
    }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * LARGE_BM;
    let col0 = wid.x * LARGE_BN;
    a_off = wid.z * P.batch_a;
    b_off = wid.z * P.batch_b;
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = vec4<f32>(0.0);
    }
    // The row sums of op(A) over this thread's rows: kept by the first column of threads
    // in the first column of workgroups (which sees every k of its rows).
    let keeps_row_sums = ROW_SUMS && wid.x == 0u && lid.x == 0u;
    var sums = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    large_product(tid, lid, row0, col0, 0u, P.k, keeps_row_sums, &acc, &sums);
    if (keeps_row_sums) {
        for (var r = 0u; r < LARGE_BM / 16u; r = r + 1u) {
            let row = row0 + large_row(lid, r);
            if (row < P.m) {
                store_row_sum(wid.z * P.m + row, sums[r / 4u][r % 4u]);
            }
        }
    }
    let c_off = wid.z * P.batch_c;
    for (var r = 0u; r < LARGE_BM / 16u; r = r + 1u) {
        let row = row0 + large_row(lid, r);
        for (var h = 0u; h < 2u; h = h + 1u) {
            let col = col0 + large_col(lid, h);
            if (row < P.m && col < P.n) {
                store4((c_off + row * P.n + col) / 4u, col, acc[r * 2u + h]);
            }
        }
    }
}
