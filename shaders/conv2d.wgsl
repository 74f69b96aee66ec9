// conv2d in NCHW as implicit GEMM: the same 64x64-tile, 4x4-register-block scheme as
// matmul.wgsl, with one operand gathered from the image on the fly (no im2col buffer).
// MODE picks the product (K = C·KH·KW, P = OH·OW, one image per wid.z where batched):
//   0 forward:         y[n, o, p]  = Σ_k W[o, k] · col_n[k, p] + bias[o]      (M=O, N=P)
//   1 input gradient:  dx[n, c, q] = Σ_(o,kh,kw) W[o, c, kh, kw] · dy[n, o, p(q)] (M=C, N=H·W)
//   2 weight gradient: dW[o, k]    = Σ_(n,p) dy[n, o, p] · col_n[k, p]          (M=O, N=K)
// where col_n[k, p] is the input pixel that kernel tap k sees at output position p (0 in
// the padding), and p(q) the output position that sees input pixel q through a tap.
// In modes 1 and 2, dy is read times act' of the forward's activation ACT, taken from the
// value its epilogue saved (the `extra` binding: y, or the pre-activation z), so the
// pre-activation gradient is never a pass of its own; the `conv2d_row_sums` family's
// mode 2 also writes Σ_(n,p) of that gradient, the bias gradient, from its first column
// of workgroups; the `conv2d_pre` family's mode 0 also keeps the pre-activation (after
// the bias) for an activation that saves its input (SiLU, GELU), both through the
// conv_outputs marker. A weight gradient whose tiles alone would launch too few
// workgroups splits its K over wid.z: each split writes a partial dW (and partial bias
// sums) into a slab of its own, and `sum_splits` adds the slabs.

struct Params {
    n: u32, // images
    alpha: f32, // the activation's parameter
    k_split: u32, // mode 2: k values per split (wid.z); the whole K when not split
    splits: u32, // sum_splits: how many partial sums to add
}
//@params

override MODE: u32 = 0u;
// The layer's geometry, as constants of the pipeline (one pipeline per layer shape): the
// compiler turns the gathers' divisions and modulos by them into multiplications and
// shifts, and drops the stride and dilation arithmetic where they are 1. The batch stays
// in Params (a last, smaller batch takes the same pipeline).
override IN_C: u32;
override IN_H: u32;
override IN_W: u32;
override OUT_C: u32;
override K_H: u32;
override K_W: u32;
override OUT_H: u32;
override OUT_W: u32;
override STRIDE_H: u32;
override STRIDE_W: u32;
override PAD_H: u32;
override PAD_W: u32;
override DIL_H: u32;
override DIL_W: u32;
// The activation mode 0 applies after the bias (ACT_IDENTITY: none), so Conv2d +
// activation is one dispatch; modes 1 and 2 gate dy with its derivative.
override ACT: u32 = 255u;

//@activation

//@gemm_tiles

// The 128x128-tile core of `conv2d_large`, fetching A and B as stored (not transposed).
const TRANS_A: u32 = 0u;
const TRANS_B: u32 = 0u;
//@gemm_large

@group(0) @binding(0) var<storage, read> src_a: array<f32>; // W (modes 0, 1) or dy (mode 2)
@group(0) @binding(1) var<storage, read> src_b: array<f32>; // x (modes 0, 2) or dy (mode 1)
@group(0) @binding(2) var<storage, read> extra: array<f32>; // bias (mode 0) or y (1, 2)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
//@conv_outputs

// dy[i] times act' at element i (from the saved y[i] or z[i]) where an activation gates it.
fn gated_dy(v: f32, i: u32) -> f32 {
    if (ACT == ACT_IDENTITY) {
        return v;
    }
    return v * act_derivative_from_saved(ACT, extra[i], P.alpha);
}

// (M, N, K) of the product.
fn dims() -> vec3<u32> {
    let taps = K_H * K_W;
    switch MODE {
        case 0u: { return vec3<u32>(OUT_C, OUT_H * OUT_W, IN_C * taps); }
        case 1u: { return vec3<u32>(IN_C, IN_H * IN_W, OUT_C * taps); }
        default: { return vec3<u32>(OUT_C, IN_C * taps, P.n * OUT_H * OUT_W); }
    }
}

// col_n[k, p]: the input pixel tap k sees at output position p, or 0 in the padding.
fn im2col(n: u32, k: u32, p: u32) -> f32 {
    let taps = K_H * K_W;
    let c = k / taps;
    let tap = k % taps;
    let ih = i32((p / OUT_W) * STRIDE_H + (tap / K_W) * DIL_H) - i32(PAD_H);
    let iw = i32((p % OUT_W) * STRIDE_W + (tap % K_W) * DIL_W) - i32(PAD_W);
    if (ih < 0 || iw < 0 || ih >= i32(IN_H) || iw >= i32(IN_W)) {
        return 0.0;
    }
    return src_b[((n * IN_C + c) * IN_H + u32(ih)) * IN_W + u32(iw)];
}

// dy[n, o, oh, ow] for the output position that input pixel q sees through tap (kh, kw).
fn dy_through_tap(n: u32, o: u32, tap: u32, q: u32) -> f32 {
    let y = i32(q / IN_W) + i32(PAD_H) - i32((tap / K_W) * DIL_H);
    let x = i32(q % IN_W) + i32(PAD_W) - i32((tap % K_W) * DIL_W);
    if (y < 0 || x < 0 || y % i32(STRIDE_H) != 0 || x % i32(STRIDE_W) != 0) {
        return 0.0;
    }
    let oy = u32(y) / STRIDE_H;
    let ox = u32(x) / STRIDE_W;
    if (oy >= OUT_H || ox >= OUT_W) {
        return 0.0;
    }
    let i = ((n * OUT_C + o) * OUT_H + oy) * OUT_W + ox;
    return gated_dy(src_b[i], i);
}

fn load_a(row: u32, k: u32) -> f32 {
    let taps = K_H * K_W;
    switch MODE {
        case 0u: { return src_a[row * IN_C * taps + k]; }
        case 1u: {
            // row = c, k = (o, tap)
            return src_a[((k / taps) * IN_C + row) * taps + k % taps];
        }
        default: {
            // row = o, k = (n, p)
            let positions = OUT_H * OUT_W;
            let i = ((k / positions) * OUT_C + row) * positions + k % positions;
            return gated_dy(src_a[i], i);
        }
    }
}

fn load_b(k: u32, col: u32, n: u32) -> f32 {
    switch MODE {
        case 0u: { return im2col(n, k, col); }
        case 1u: {
            let taps = K_H * K_W;
            return dy_through_tap(n, k / taps, k % taps, col);
        }
        default: {
            // k = (n, p), col = tap index into C·KH·KW
            let positions = OUT_H * OUT_W;
            return im2col(k / positions, col, k % positions);
        }
    }
}

// A of the product at (row, k), or 0 outside its rows or this split's k range.
fn guarded_a(row: u32, k: u32, rows: u32, k_end: u32) -> f32 {
    if (row < rows && k < k_end) {
        return load_a(row, k);
    }
    return 0.0;
}

// B of the product at (k, col) for image n, or 0 outside its columns or the k range.
fn guarded_b(k: u32, col: u32, cols: u32, k_end: u32, n: u32) -> f32 {
    if (col < cols && k < k_end) {
        return load_b(k, col, n);
    }
    return 0.0;
}

// What workgroup layer z computes, for a product of depth K: (the image, in modes 0 and 1
// (unused in mode 2), and the k range [begin, end) of its split). Layer z is split
// z / images of image z % images; mode 2 sums over every image.
fn layer_work(z: u32, depth: u32) -> vec3<u32> {
    let images = select(P.n, 1u, MODE == 2u);
    let k_begin = (z / images) * P.k_split;
    return vec3<u32>(z % images, k_begin, min(k_begin + P.k_split, depth));
}

@compute @workgroup_size(16, 16, 1)
fn conv2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let mnk = dims();
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let work = layer_work(wid.z, mnk.z);
    let n = work.x;
    let k_begin = work.y;
    let k_end = work.z;
    var acc: array<f32, 16>;
    var sums = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = 0.0;
    }
    // The first thread of each row group in the first column of workgroups sees every k.
    let keeps_sums = ROW_SUMS && wid.x == 0u && lid.x == 0u;
    for (var k0 = k_begin; k0 < k_end; k0 = k0 + BK) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let e = tid + r * 256u;
            tile_a[(e % BK) * BM + e / BK] = guarded_a(row0 + e / BK, k0 + e % BK, mnk.x, k_end);
            tile_b[(e / BN) * BN + e % BN] = guarded_b(k0 + e / BN, col0 + e % BN, mnk.y, k_end, n);
        }
        workgroupBarrier();
        multiply_tiles(lid, &acc);
        if (keeps_sums) {
            sum_tile_rows(lid, &sums);
        }
        workgroupBarrier();
    }
    // An image's output, or (split) a slab of partial sums that sum_splits adds.
    let out_off = wid.z * mnk.x * mnk.y;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + lid.x + 16u * j;
            if (row < mnk.x && col < mnk.y) {
                store_output(out_off + row * mnk.y + col, row, acc[i * 4u + j]);
            }
        }
        if (keeps_sums && row < mnk.x) {
            store_row_sum(wid.z * mnk.x + row, sums[i]);
        }
    }
}

// The 32x128 tile of `conv2d_wide`, for products with few rows (a 32-channel layer's
// input gradient and forward), where half of a 64-row tile would multiply zeros.
const WIDE_BM: u32 = 32u;
const WIDE_BN: u32 = 128u;
var<workgroup> wide_a: array<f32, 512>; // [BK][WIDE_BM]
var<workgroup> wide_b: array<f32, 2048>; // [BK][WIDE_BN]

// `conv2d` on 32x128 tiles, each thread a 2x8 block (rows lid.y + 16i, columns
// lid.x + 16j): the same products, outputs and splits.
@compute @workgroup_size(16, 16, 1)
fn conv2d_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let mnk = dims();
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * WIDE_BM;
    let col0 = wid.x * WIDE_BN;
    let work = layer_work(wid.z, mnk.z);
    let n = work.x;
    let k_begin = work.y;
    let k_end = work.z;
    var acc: array<f32, 16>; // [2 rows][8 columns]
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = 0.0;
    }
    var sums = array<f32, 2>(0.0, 0.0);
    let keeps_sums = ROW_SUMS && wid.x == 0u && lid.x == 0u;
    for (var k0 = k_begin; k0 < k_end; k0 = k0 + BK) {
        for (var r = 0u; r < 2u; r = r + 1u) {
            let e = tid + r * 256u;
            wide_a[(e % BK) * WIDE_BM + e / BK] =
                guarded_a(row0 + e / BK, k0 + e % BK, mnk.x, k_end);
        }
        for (var r = 0u; r < 8u; r = r + 1u) {
            let e = tid + r * 256u;
            wide_b[(e / WIDE_BN) * WIDE_BN + e % WIDE_BN] =
                guarded_b(k0 + e / WIDE_BN, col0 + e % WIDE_BN, mnk.y, k_end, n);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            let ra = array<f32, 2>(wide_a[kk * WIDE_BM + lid.y], wide_a[kk * WIDE_BM + lid.y + 16u]);
            for (var j = 0u; j < 8u; j = j + 1u) {
                let b = wide_b[kk * WIDE_BN + lid.x + 16u * j];
                acc[j] = fma(ra[0], b, acc[j]);
                acc[8u + j] = fma(ra[1], b, acc[8u + j]);
            }
            if (keeps_sums) {
                sums[0] = sums[0] + ra[0];
                sums[1] = sums[1] + ra[1];
            }
        }
        workgroupBarrier();
    }
    let out_off = wid.z * mnk.x * mnk.y;
    for (var i = 0u; i < 2u; i = i + 1u) {
        let row = row0 + lid.y + 16u * i;
        if (row >= mnk.x) {
            continue;
        }
        for (var j = 0u; j < 8u; j = j + 1u) {
            let col = col0 + lid.x + 16u * j;
            if (col < mnk.y) {
                store_output(out_off + row * mnk.y + col, row, acc[i * 8u + j]);
            }
        }
        if (keeps_sums) {
            store_row_sum(wid.z * mnk.x + row, sums[i]);
        }
    }
}

// Element i of the output (row `row` of the product) from its sum v: mode 0 adds the bias
// and applies the activation, keeping the pre-activation where asked, unless v is a
// split's partial sum (sum_splits finishes those).
fn store_output(i: u32, row: u32, v: f32) {
    var y = v;
    if (MODE == 0u && P.splits == 1u) {
        let z = v + extra[row];
        keep_input(i, z);
        y = act_forward(ACT, z, P.alpha, 0.0);
    }
    out[i] = y;
}

// What `conv2d_large`'s fetches need: the product's (M, N, K), this workgroup's image
// (modes 0 and 1) and the end of its k range.
var<private> large_mnk: vec3<u32>;
var<private> large_image: u32;
var<private> large_k_end: u32;

// This thread's 4 values of A (row tid / 2, 4 consecutive k) for the step at k0.
fn large_fetch_a(tid: u32, row0: u32, k0: u32) -> vec4<f32> {
    let row = row0 + tid / 2u;
    let k = k0 + (tid % 2u) * 4u;
    var v = vec4<f32>(0.0);
    if (large_fetches_a(tid) && row < large_mnk.x) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            if (k + i < large_k_end) {
                v[i] = load_a(row, k + i);
            }
        }
    }
    return v;
}

// This thread's 4 values of B (k tid / 32, 4 consecutive columns) for the step at k0.
fn large_fetch_b(tid: u32, col0: u32, k0: u32) -> vec4<f32> {
    let k = k0 + tid / 32u;
    let col = col0 + (tid % 32u) * 4u;
    var v = vec4<f32>(0.0);
    if (k < large_k_end) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            if (col + i < large_mnk.y) {
                v[i] = load_b(k, col + i, large_image);
            }
        }
    }
    return v;
}

// `conv2d` on 128x128 tiles, each thread an 8x8 block, or (LARGE_BM 64) on 64x128 tiles,
// each thread a 4x8 block (shaders/gemm_large.wgsl): the same products, outputs and
// splits, 2-4x the work per workgroup read.
@compute @workgroup_size(16, 16, 1)
fn conv2d_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let mnk = dims();
    large_mnk = mnk;
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * LARGE_BM;
    let col0 = wid.x * LARGE_BN;
    let work = layer_work(wid.z, mnk.z);
    large_image = work.x;
    let k_begin = work.y;
    large_k_end = work.z;
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i = i + 1u) {
        acc[i] = vec4<f32>(0.0);
    }
    let keeps_sums = ROW_SUMS && wid.x == 0u && lid.x == 0u;
    var sums = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    large_product(tid, lid, row0, col0, k_begin, large_k_end, keeps_sums, &acc, &sums);
    let out_off = wid.z * mnk.x * mnk.y;
    for (var r = 0u; r < LARGE_BM / 16u; r = r + 1u) {
        let row = row0 + large_row(lid, r);
        if (row >= mnk.x) {
            continue;
        }
        for (var h = 0u; h < 2u; h = h + 1u) {
            let col = col0 + large_col(lid, h);
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (col + j < mnk.y) {
                    store_output(out_off + row * mnk.y + col + j, row, acc[r * 2u + h][j]);
                }
            }
        }
        if (keeps_sums) {
            store_row_sum(wid.z * mnk.x + row, sums[r / 4u][r % 4u]);
        }
    }
}

// A split product from its P.splits slabs of partial sums in src_a: mode 0's output,
// finished here (bias, activation, the kept pre-activation), mode 1's dx, mode 2's dW and,
// with row sums, the bias gradient from the slabs in src_b.
@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    var size: u32;
    switch MODE {
        case 0u: { size = P.n * OUT_C * OUT_H * OUT_W; }
        case 1u: { size = P.n * IN_C * IN_H * IN_W; }
        default: { size = OUT_C * IN_C * K_H * K_W; }
    }
    if (i < size) {
        var total = 0.0;
        for (var s = 0u; s < P.splits; s = s + 1u) {
            total = total + src_a[s * size + i];
        }
        if (MODE == 0u) {
            let z = total + extra[(i / (OUT_H * OUT_W)) % OUT_C];
            keep_input(i, z);
            total = act_forward(ACT, z, P.alpha, 0.0);
        }
        out[i] = total;
    }
    if (ROW_SUMS && i < OUT_C) {
        var total = 0.0;
        for (var s = 0u; s < P.splits; s = s + 1u) {
            total = total + src_b[s * OUT_C + i];
        }
        store_row_sum(i, total);
    }
}
