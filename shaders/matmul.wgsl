// C = op(A) · op(B), batched, for any M, N, K. Each workgroup computes a 64x64 tile of C
// from 64x16 and 16x64 tiles of A and B staged in workgroup memory; each of its 256
// threads accumulates a 4x4 register block. TRANS_A / TRANS_B read a transposed operand
// in place (no copy); loads stay coalesced either way. Out-of-range elements load as 0.
// `matmul` loads scalars and serves every shape; `matmul_vec4` loads one vec4 of each
// operand per thread per tile and needs each operand's contiguous axis (and so its batch
// stride) to be a multiple of 4; `matmul_split` (at the end) computes small tiles for
// products with few outputs and a long k. A product whose k is longer than one
// workgroup may sum (MAX_K_PER_WORKGROUP in src/ops/mod.rs) splits it over workgroup
// layers (k_range) into slabs of partial sums, which `sum_splits` (at the end) adds and
// finishes through the output stage. A is read through `load_a`/`load_a4` (the gemm_input
// marker): as stored, or times an activation's derivative for the `_gated` families. C is
// written through `store` (the gemm_output marker): as computed for the `matmul` family,
// with bias and activation applied for the `dense` family.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_a: u32, // elements between consecutive batches of A (0 = shared)
    batch_b: u32,
    batch_c: u32,
    alpha: f32, // the activation's parameter (dense and gated kernels)
    pen_l1: f32, // gated kernels: the L1/L2 penalty on the gate whose gradient joins A
    pen_l2: f32,
    drop_p: f32, // dense and gated kernels: the dropout after the activation (0: none)
    drop_scale: f32, // 1 / (1 - drop_p)
    seed_lo: u32, // the dropout mask's seed
    seed_hi: u32,
    k_split: u32, // k each split of a long product sums over (k when not split)
    count: u32, // products in the batch; workgroup layer z is split z / count, product z % count
    splits: u32, // sum_splits: the slabs of partial sums to add
}
//@params

override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;
// Also write the row sums of op(A) (the `matmul_row_sums` family): a dense layer's bias
// gradient Σ_batch dz comes out of its weight-gradient product dzᵀ·x this way.
override ROW_SUMS: bool = false;

//@gemm_tiles

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
//@gemm_output
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
//@gemm_input

// Whether this thread keeps row sums of op(A): the first thread of each row group in the
// first column of workgroups (which sees every k of its rows).
fn keeps_row_sums(wid: vec3<u32>, lid: vec3<u32>) -> bool {
    return ROW_SUMS && wid.x == 0u && lid.x == 0u;
}

fn store_row_sums(wid: vec3<u32>, lid: vec3<u32>, sums: array<f32, 4>) {
    if (keeps_row_sums(wid, lid)) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            let row = wid.y * BM + lid.y + 16u * i;
            if (row < P.m) {
                store_row_sum(wid.z * P.m + row, sums[i]);
            }
        }
    }
}

// The product of the batch that workgroup layer z computes.
fn product_of(z: u32) -> u32 {
    return z % P.count;
}

// The k that workgroup layer z sums over: its split's [begin, end). Its C (and row sums)
// go to the slab of layer z: a split product's partial sums, added by sum_splits.
fn k_range(z: u32) -> vec2<u32> {
    let begin = (z / P.count) * P.k_split;
    return vec2<u32>(begin, min(begin + P.k_split, P.k));
}

fn store_block(wid: vec3<u32>, lid: vec3<u32>, acc: ptr<function, array<f32, 16>>) {
    let c_off = wid.z * P.batch_c;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = wid.y * BM + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = wid.x * BN + lid.x + 16u * j;
            if (row < P.m && col < P.n) {
                store(c_off + row * P.n + col, col, (*acc)[i * 4u + j]);
            }
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let a_off = product_of(wid.z) * P.batch_a;
    let b_off = product_of(wid.z) * P.batch_b;
    let ks = k_range(wid.z);
    var acc: array<f32, 16>;
    var sums = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = 0.0;
    }
    for (var k0 = ks.x; k0 < ks.y; k0 = k0 + BK) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let e = tid + r * 256u;
            // A element (m, k): consecutive threads walk the operand's contiguous axis.
            var am: u32;
            var ak: u32;
            if (TRANS_A == 1u) {
                am = e % BM;
                ak = e / BM;
            } else {
                ak = e % BK;
                am = e / BK;
            }
            let gm = row0 + am;
            let gka = k0 + ak;
            var va = 0.0;
            if (gm < P.m && gka < ks.y) {
                if (TRANS_A == 1u) {
                    va = load_a(a_off + gka * P.m + gm);
                } else {
                    va = load_a(a_off + gm * P.k + gka);
                }
            }
            tile_a[ak * BM + am] = va;
            // B element (k, n).
            var bn: u32;
            var bk: u32;
            if (TRANS_B == 1u) {
                bk = e % BK;
                bn = e / BK;
            } else {
                bn = e % BN;
                bk = e / BN;
            }
            let gn = col0 + bn;
            let gkb = k0 + bk;
            var vb = 0.0;
            if (gn < P.n && gkb < ks.y) {
                if (TRANS_B == 1u) {
                    vb = b[b_off + gn * P.k + gkb];
                } else {
                    vb = b[b_off + gkb * P.n + gn];
                }
            }
            tile_b[bk * BN + bn] = vb;
        }
        workgroupBarrier();
        multiply_tiles(lid, &acc);
        if (keeps_row_sums(wid, lid)) {
            sum_tile_rows(lid, &sums);
        }
        workgroupBarrier();
    }
    store_block(wid, lid, &acc);
    store_row_sums(wid, lid, sums);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let a_off = product_of(wid.z) * P.batch_a;
    let b_off = product_of(wid.z) * P.batch_b;
    let ks = k_range(wid.z);
    var acc: array<f32, 16>;
    var sums = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = 0.0;
    }
    // Each thread loads one vec4 of each operand per tile: 64x16 = 256 vec4s.
    let across = tid % 4u;   // which vec4 along a 16-long contiguous k run
    let along = tid / 4u;    // which of the 64 rows (or columns)
    let wide = tid % 16u;    // which vec4 along a 64-long contiguous m or n run
    let deep = tid / 16u;    // which of the 16 k rows
    for (var k0 = ks.x; k0 < ks.y; k0 = k0 + BK) {
        var va = vec4<f32>(0.0);
        if (TRANS_A == 1u) {
            let gk = k0 + deep;
            let gm = row0 + wide * 4u;
            if (gk < ks.y && gm < P.m) {
                va = load_a4((a_off + gk * P.m + gm) / 4u);
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                tile_a[deep * BM + wide * 4u + i] = va[i];
            }
        } else {
            let gm = row0 + along;
            let gk = k0 + across * 4u;
            if (gm < P.m && gk < ks.y) {
                va = load_a4((a_off + gm * P.k + gk) / 4u);
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                tile_a[(across * 4u + i) * BM + along] = va[i];
            }
        }
        var vb = vec4<f32>(0.0);
        if (TRANS_B == 1u) {
            let gn = col0 + along;
            let gk = k0 + across * 4u;
            if (gn < P.n && gk < ks.y) {
                vb = b4[(b_off + gn * P.k + gk) / 4u];
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                tile_b[(across * 4u + i) * BN + along] = vb[i];
            }
        } else {
            let gk = k0 + deep;
            let gn = col0 + wide * 4u;
            if (gk < ks.y && gn < P.n) {
                vb = b4[(b_off + gk * P.n + gn) / 4u];
            }
            for (var i = 0u; i < 4u; i = i + 1u) {
                tile_b[deep * BN + wide * 4u + i] = vb[i];
            }
        }
        workgroupBarrier();
        multiply_tiles(lid, &acc);
        if (keeps_row_sums(wid, lid)) {
            sum_tile_rows(lid, &sums);
        }
        workgroupBarrier();
    }
    store_block(wid, lid, &acc);
    store_row_sums(wid, lid, sums);
}

// Small tiles for products whose 64x64 tiles would leave a large GPU idle (few outputs,
// long k: a dense layer's forward at a small batch, its weight gradient): each workgroup
// computes a TM x TN tile of C, its 256 threads split into S = 256 / (TM·TN) slices of k.
// Each thread accumulates one element of C over the k of its slice (k ≡ slice mod S, so
// the S threads of one element read neighbouring k), straight from memory; the slices'
// sums meet in workgroup memory and the first slice's thread stores the element.
override TM: u32 = 8u;
override TN: u32 = 8u;

var<workgroup> slice_sums: array<f32, 256>;
var<workgroup> slice_row_sums: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn matmul_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let slices = 256u / (TM * TN);
    let t = lid.x;
    let slice = t % slices;
    let element = t / slices;
    let row = wid.y * TM + element / TN;
    let col = wid.x * TN + element % TN;
    let a_off = product_of(wid.z) * P.batch_a;
    let b_off = product_of(wid.z) * P.batch_b;
    let ks = k_range(wid.z);
    // Row sums of op(A): kept by the thread of each row's first column, in the first
    // column of workgroups (which sees every k of its rows).
    let sums_row = ROW_SUMS && wid.x == 0u && element % TN == 0u;
    var acc = 0.0;
    var row_sum = 0.0;
    if (row < P.m && col < P.n) {
        for (var k = ks.x + slice; k < ks.y; k = k + slices) {
            var va: f32;
            if (TRANS_A == 1u) {
                va = load_a(a_off + k * P.m + row);
            } else {
                va = load_a(a_off + row * P.k + k);
            }
            var vb: f32;
            if (TRANS_B == 1u) {
                vb = b[b_off + col * P.k + k];
            } else {
                vb = b[b_off + k * P.n + col];
            }
            acc = fma(va, vb, acc);
            row_sum = row_sum + va;
        }
    }
    slice_sums[t] = acc;
    slice_row_sums[t] = row_sum;
    workgroupBarrier();
    if (slice == 0u && row < P.m && col < P.n) {
        var total = 0.0;
        var rows_total = 0.0;
        for (var s = 0u; s < slices; s = s + 1u) {
            total = total + slice_sums[t + s];
            rows_total = rows_total + slice_row_sums[t + s];
        }
        store(wid.z * P.batch_c + row * P.n + col, col, total);
        if (sums_row) {
            store_row_sum(wid.z * P.m + row, rows_total);
        }
    }
}

// A split product finished: element i of C (of all the batch's products) is the sum of
// the P.splits slabs of partial sums in `a`, stored through the family's output stage
// (bias, activation, dropout for the dense ones); with row sums, row i's from the slabs
// in `b`.
@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    let size = P.count * P.m * P.n;
    if (i < size) {
        var total = 0.0;
        for (var s = 0u; s < P.splits; s = s + 1u) {
            total = total + a[s * size + i];
        }
        store(i, i % P.n, total);
    }
    let rows = P.count * P.m;
    if (ROW_SUMS && i < rows) {
        var total = 0.0;
        for (var s = 0u; s < P.splits; s = s + 1u) {
            total = total + b[s * rows + i];
        }
        store_row_sum(i, total);
    }
}
