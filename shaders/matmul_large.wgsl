// Large-tile C = op(A) · op(B) for big matrices: each workgroup of 256 threads computes a
// 128x128 tile of C, each thread an 8x8 block held as sixteen vec4 accumulators. K advances
// in steps of 8 through two workgroup buffers (one being read while the next is filled,
// one barrier per step). Every global load, workgroup read and store is a vec4, so each
// operand's contiguous axis and N must be multiples of 4 (src/ops/matmul.rs checks).
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

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
//@gemm_output
//@gemm_input

// [buffer * BK + k][m / 4] and [buffer * BK + k][n / 4]
var<workgroup> tile_a: array<array<vec4<f32>, 32>, 16>;
var<workgroup> tile_b: array<array<vec4<f32>, 32>, 16>;

// One vec4 of A for step k0: (m, k) coordinates and value, zero outside the matrix.
fn fetch_a(tid: u32, row0: u32, k0: u32, a_off: u32) -> vec4<f32> {
    if (TRANS_A == 1u) {
        let gk = k0 + tid / 32u;
        let gm = row0 + (tid % 32u) * 4u;
        if (gk < P.k && gm < P.m) {
            return load_a4((a_off + gk * P.m + gm) / 4u);
        }
    } else {
        let gm = row0 + tid / 2u;
        let gk = k0 + (tid % 2u) * 4u;
        if (gm < P.m && gk < P.k) {
            return load_a4((a_off + gm * P.k + gk) / 4u);
        }
    }
    return vec4<f32>(0.0);
}

fn fetch_b(tid: u32, col0: u32, k0: u32, b_off: u32) -> vec4<f32> {
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

// Writes this thread's loaded vec4s into workgroup buffer `buf`, k-major.
fn stash(tid: u32, buf: u32, va: vec4<f32>, vb: vec4<f32>) {
    if (TRANS_A == 1u) {
        tile_a[buf * BK + tid / 32u][tid % 32u] = va;
    } else {
        let m = tid / 2u;
        for (var i = 0u; i < 4u; i = i + 1u) {
            tile_a[buf * BK + (tid % 2u) * 4u + i][m / 4u][m % 4u] = va[i];
        }
    }
    if (TRANS_B == 1u) {
        let n = tid / 2u;
        for (var i = 0u; i < 4u; i = i + 1u) {
            tile_b[buf * BK + (tid % 2u) * 4u + i][n / 4u][n % 4u] = vb[i];
        }
    } else {
        tile_b[buf * BK + tid / 32u][tid % 32u] = vb;
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let a_off = wid.z * P.batch_a;
    let b_off = wid.z * P.batch_b;
    // acc[r * 2 + h]: row (r < 4 ? 4·ty + r : 64 + 4·ty + r − 4), columns 64·h + 4·tx .. +4
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = vec4<f32>(0.0);
    }
    let steps = (P.k + BK - 1u) / BK;
    if (steps > 0u) {
        stash(tid, 0u, fetch_a(tid, row0, 0u, a_off), fetch_b(tid, col0, 0u, b_off));
    }
    // The row sums of op(A) over this thread's rows: kept by the first column of threads
    // in the first column of workgroups (which sees every k of its rows).
    let keeps_row_sums = ROW_SUMS && wid.x == 0u && lid.x == 0u;
    var sums_lo = vec4<f32>(0.0);
    var sums_hi = vec4<f32>(0.0);
    workgroupBarrier();
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s % 2u;
        let more = s + 1u < steps;
        var next_a = vec4<f32>(0.0);
        var next_b = vec4<f32>(0.0);
        if (more) {
            next_a = fetch_a(tid, row0, (s + 1u) * BK, a_off);
            next_b = fetch_b(tid, col0, (s + 1u) * BK, b_off);
        }
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            let row_k = cur * BK + kk;
            let a_lo = tile_a[row_k][lid.y];
            let a_hi = tile_a[row_k][lid.y + 16u];
            let b_lo = tile_b[row_k][lid.x];
            let b_hi = tile_b[row_k][lid.x + 16u];
            if (keeps_row_sums) {
                sums_lo = sums_lo + a_lo;
                sums_hi = sums_hi + a_hi;
            }
            for (var r = 0u; r < 4u; r = r + 1u) {
                acc[r * 2u] = fma(vec4<f32>(a_lo[r]), b_lo, acc[r * 2u]);
                acc[r * 2u + 1u] = fma(vec4<f32>(a_lo[r]), b_hi, acc[r * 2u + 1u]);
                acc[(r + 4u) * 2u] = fma(vec4<f32>(a_hi[r]), b_lo, acc[(r + 4u) * 2u]);
                acc[(r + 4u) * 2u + 1u] = fma(vec4<f32>(a_hi[r]), b_hi, acc[(r + 4u) * 2u + 1u]);
            }
        }
        if (more) {
            stash(tid, 1u - cur, next_a, next_b);
        }
        workgroupBarrier();
    }
    if (keeps_row_sums) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let lo = row0 + lid.y * 4u + r;
            let hi = lo + 64u;
            if (lo < P.m) {
                store_row_sum(wid.z * P.m + lo, sums_lo[r]);
            }
            if (hi < P.m) {
                store_row_sum(wid.z * P.m + hi, sums_hi[r]);
            }
        }
    }
    let c_off = wid.z * P.batch_c;
    for (var r = 0u; r < 8u; r = r + 1u) {
        let row = row0 + select(64u + lid.y * 4u + r - 4u, lid.y * 4u + r, r < 4u);
        for (var h = 0u; h < 2u; h = h + 1u) {
            let col = col0 + h * 64u + lid.x * 4u;
            if (row < P.m && col < P.n) {
                store4((c_off + row * P.n + col) / 4u, col, acc[r * 2u + h]);
            }
        }
    }
}
