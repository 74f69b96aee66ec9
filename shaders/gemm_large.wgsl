// The 128x128-tile GEMM core shared by matmul_large.wgsl and conv2d.wgsl's large entry
// (included where a shader has the gemm_large marker): each workgroup of 256 threads
// computes a 128x128 tile of C, each thread an 8x8 block held as sixteen vec4
// accumulators; or, with LARGE_BM 64, a 64x128 tile, each thread a 4x8 block (rows
// large_row(r) for r < 4: a product of 64 rows, such as a 64-channel convolution, fills
// it instead of leaving half of a 128-row tile zeros); K advances in steps of 8 through two workgroup buffers (one being read
// while the next is filled, one barrier per step), every workgroup read a vec4. The
// including shader gives the TRANS_A and TRANS_B constants (the layout of the vec4s it
// fetches) and `large_fetch_a(tid, row0, k0)` / `large_fetch_b(tid, col0, k0)`: this
// thread's vec4 of A and of B for the step at k0, zero outside the product.

// Rows of the tile: 128, or 64 (the pipeline's choice).
override LARGE_BM: u32 = 128u;
const LARGE_BN: u32 = 128u;
const LARGE_BK: u32 = 8u;

// [buffer * LARGE_BK + k][m / 4] and [buffer * LARGE_BK + k][n / 4]
var<workgroup> large_a: array<array<vec4<f32>, 32>, 16>;
var<workgroup> large_b: array<array<vec4<f32>, 32>, 16>;

// Whether this thread fetches A's values (TRANS_A 0: row tid / 2; TRANS_A 1: rows
// 4 (tid % 32) and on) for the step: only the tile's rows, so a 64-row tile skips the
// fetches of rows it does not hold.
fn large_fetches_a(tid: u32) -> bool {
    return select(tid / 2u, (tid % 32u) * 4u, TRANS_A == 1u) < LARGE_BM;
}

// Writes this thread's fetched vec4s into workgroup buffer `buf`, k-major. A's vec4 holds
// 4 k of row tid / 2 (TRANS_A 0) or 4 rows of k tid / 32 (TRANS_A 1); B's holds 4 columns
// of k tid / 32 (TRANS_B 0) or 4 k of column tid / 2 (TRANS_B 1).
fn large_stash(tid: u32, buf: u32, va: vec4<f32>, vb: vec4<f32>) {
    if (TRANS_A == 1u) {
        large_a[buf * LARGE_BK + tid / 32u][tid % 32u] = va;
    } else {
        let m = tid / 2u;
        for (var i = 0u; i < 4u; i = i + 1u) {
            large_a[buf * LARGE_BK + (tid % 2u) * 4u + i][m / 4u][m % 4u] = va[i];
        }
    }
    if (TRANS_B == 1u) {
        let n = tid / 2u;
        for (var i = 0u; i < 4u; i = i + 1u) {
            large_b[buf * LARGE_BK + (tid % 2u) * 4u + i][n / 4u][n % 4u] = vb[i];
        }
    } else {
        large_b[buf * LARGE_BK + tid / 32u][tid % 32u] = vb;
    }
}

// The row of C that acc[r * 2 + h] holds (r < LARGE_BM / 16), relative to the tile.
fn large_row(lid: vec3<u32>, r: u32) -> u32 {
    return select(64u + lid.y * 4u + r - 4u, lid.y * 4u + r, r < 4u);
}

// The first of the 4 columns of C that acc[r * 2 + h] holds, relative to the tile.
fn large_col(lid: vec3<u32>, h: u32) -> u32 {
    return h * 64u + lid.x * 4u;
}

// acc += the tile's product over k in [k_begin, k_end); with `keeps_row_sums`, sums[0]
// and sums[1] also gather A's values of rows large_row(r) for r < 4 and r >= 4.
fn large_product(tid: u32, lid: vec3<u32>, row0: u32, col0: u32, k_begin: u32, k_end: u32,
                 keeps_row_sums: bool, acc: ptr<function, array<vec4<f32>, 16>>,
                 sums: ptr<function, array<vec4<f32>, 2>>) {
    let steps = (k_end - min(k_begin, k_end) + LARGE_BK - 1u) / LARGE_BK;
    if (steps > 0u) {
        large_stash(tid, 0u, large_fetch_a(tid, row0, k_begin), large_fetch_b(tid, col0, k_begin));
    }
    workgroupBarrier();
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s % 2u;
        let more = s + 1u < steps;
        var next_a = vec4<f32>(0.0);
        var next_b = vec4<f32>(0.0);
        if (more) {
            let k0 = k_begin + (s + 1u) * LARGE_BK;
            next_a = large_fetch_a(tid, row0, k0);
            next_b = large_fetch_b(tid, col0, k0);
        }
        for (var kk = 0u; kk < LARGE_BK; kk = kk + 1u) {
            let row_k = cur * LARGE_BK + kk;
            let a_lo = large_a[row_k][lid.y];
            let b_lo = large_b[row_k][lid.x];
            let b_hi = large_b[row_k][lid.x + 16u];
            if (keeps_row_sums) {
                (*sums)[0] = (*sums)[0] + a_lo;
            }
            for (var r = 0u; r < 4u; r = r + 1u) {
                (*acc)[r * 2u] = fma(vec4<f32>(a_lo[r]), b_lo, (*acc)[r * 2u]);
                (*acc)[r * 2u + 1u] = fma(vec4<f32>(a_lo[r]), b_hi, (*acc)[r * 2u + 1u]);
            }
            if (LARGE_BM == 128u) {
                let a_hi = large_a[row_k][lid.y + 16u];
                if (keeps_row_sums) {
                    (*sums)[1] = (*sums)[1] + a_hi;
                }
                for (var r = 0u; r < 4u; r = r + 1u) {
                    (*acc)[(r + 4u) * 2u] = fma(vec4<f32>(a_hi[r]), b_lo, (*acc)[(r + 4u) * 2u]);
                    (*acc)[(r + 4u) * 2u + 1u] = fma(vec4<f32>(a_hi[r]), b_hi, (*acc)[(r + 4u) * 2u + 1u]);
                }
            }
        }
        if (more) {
            large_stash(tid, 1u - cur, next_a, next_b);
        }
        workgroupBarrier();
    }
}
