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

// The 128x128-tile core of `conv2d_large`, fetching a vec4 of 4 rows of A at one depth (as
// a transposed A is stored) and of 4 columns of B.
const TRANS_A: u32 = 1u;
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

// An element of A or B in two parts: the part fixed for a thread across the k loop (its
// row of A, its column of B), found once, and the part that moves with k, found once a
// step for all the thread's rows or columns. Each holds part of the element's offset and,
// for B, of the 2-D coordinates that find the padding (the input pixel in modes 0 and 2,
// the output position before the stride in mode 1); the element is where the two parts
// add up, so that the gathers do no division or modulo per element. A moving part past
// its split's k range is not `inside` and reads as 0.
struct Part {
    off: i32,
    y: i32,
    x: i32,
    inside: bool,
}

// Kernel tap t = (c, kh, kw): the channel's plane of the image, the tap's place in the window.
fn tap_part(t: u32) -> Part {
    let taps = K_H * K_W;
    let tap = t % taps;
    return Part(i32((t / taps) * IN_H * IN_W), i32((tap / K_W) * DIL_H), i32((tap % K_W) * DIL_W), true);
}

// Output position p of image n: the image, and its window's top-left input pixel.
fn position_part(n: u32, p: u32) -> Part {
    let y = i32((p / OUT_W) * STRIDE_H) - i32(PAD_H);
    let x = i32((p % OUT_W) * STRIDE_W) - i32(PAD_W);
    return Part(i32(n * IN_C * IN_H * IN_W), y, x, true);
}

// Row `row` of A, clamped into the product (a row past it only feeds outputs never stored).
fn a_row(row: u32) -> Part {
    let r = min(row, dims().x - 1u);
    switch MODE {
        case 0u: { return Part(i32(r * IN_C * K_H * K_W), 0, 0, true); } // W[o, k]
        case 1u: { return Part(i32(r * K_H * K_W), 0, 0, true); } // W[o, c, tap], row = c
        default: { return Part(i32(r * OUT_H * OUT_W), 0, 0, true); } // dy[n, o, p], row = o
    }
}

// Depth k of A (not inside from k_end on).
fn a_k(k: u32, k_end: u32) -> Part {
    var part = Part(i32(k), 0, 0, k < k_end);
    switch MODE {
        case 1u: {
            let taps = K_H * K_W;
            part.off = i32((k / taps) * IN_C * taps + k % taps); // k = (o, tap)
        }
        case 2u: {
            let positions = OUT_H * OUT_W;
            part.off = i32((k / positions) * OUT_C * positions + k % positions); // k = (n, p)
        }
        default: {}
    }
    return part;
}

// A at (row, k): mode 2's dy is gated by the activation's derivative.
fn a_value(row: Part, k: Part) -> f32 {
    if (!k.inside) {
        return 0.0;
    }
    let i = u32(row.off + k.off);
    if (MODE == 2u) {
        return gated_dy(src_a[i], i);
    }
    return src_a[i];
}

// Column `col` of B for image n, clamped into the product as in a_row.
fn b_col(col: u32, n: u32) -> Part {
    let c = min(col, dims().y - 1u);
    switch MODE {
        case 0u: { return position_part(n, c); }
        case 1u: {
            // input pixel q = c of image n, shifted by the padding into dy's coordinates
            let y = i32(c / IN_W + PAD_H);
            let x = i32(c % IN_W + PAD_W);
            return Part(i32(n * OUT_C * OUT_H * OUT_W), y, x, true);
        }
        default: { return tap_part(c); }
    }
}

// Depth k of B (not inside from k_end on).
fn b_k(k: u32, k_end: u32) -> Part {
    var part: Part;
    switch MODE {
        case 0u: { part = tap_part(k); }
        case 1u: {
            // k = (o, tap): dy's plane o, and the tap's step back from the input pixel
            let taps = K_H * K_W;
            let tap = k % taps;
            let y = -i32((tap / K_W) * DIL_H);
            let x = -i32((tap % K_W) * DIL_W);
            part = Part(i32((k / taps) * OUT_H * OUT_W), y, x, true);
        }
        default: {
            let positions = OUT_H * OUT_W;
            part = position_part(k / positions, k % positions); // k = (n, p)
        }
    }
    part.inside = k < k_end;
    return part;
}

// B at (k, col): col_n[k, p] in modes 0 and 2 (0 in the padding); in mode 1, the gated dy
// at the output position that sees the input pixel through the tap, or 0 where none does.
fn b_value(col: Part, k: Part) -> f32 {
    let y = col.y + k.y;
    let x = col.x + k.x;
    if (MODE == 1u) {
        if (!k.inside || y < 0 || x < 0 || y % i32(STRIDE_H) != 0 || x % i32(STRIDE_W) != 0) {
            return 0.0;
        }
        let oy = u32(y) / STRIDE_H;
        let ox = u32(x) / STRIDE_W;
        if (oy >= OUT_H || ox >= OUT_W) {
            return 0.0;
        }
        let i = u32(col.off + k.off) + oy * OUT_W + ox;
        return gated_dy(src_b[i], i);
    }
    let padded = PAD_H > 0u || PAD_W > 0u;
    if (!k.inside || (padded && (u32(y) >= IN_H || u32(x) >= IN_W))) {
        return 0.0;
    }
    return src_b[u32(col.off + k.off + y * i32(IN_W) + x)];
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
    // Each step, thread (lid.x, lid.y) fetches depth k0 + lid.y of the tile's rows and
    // columns lid.x + 16i, whose fixed parts it finds once.
    var rows: array<Part, 4>;
    var cols: array<Part, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        rows[i] = a_row(row0 + lid.x + 16u * i);
        cols[i] = b_col(col0 + lid.x + 16u * i, n);
    }
    for (var k0 = k_begin; k0 < k_end; k0 = k0 + BK) {
        let ka = a_k(k0 + lid.y, k_end);
        let kb = b_k(k0 + lid.y, k_end);
        for (var i = 0u; i < 4u; i = i + 1u) {
            tile_a[lid.y * BM + lid.x + 16u * i] = a_value(rows[i], ka);
            tile_b[lid.y * BN + lid.x + 16u * i] = b_value(cols[i], kb);
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
    // As in `conv2d`: depth k0 + lid.y of rows and columns lid.x + 16i each step.
    var rows: array<Part, 2>;
    var cols: array<Part, 8>;
    for (var i = 0u; i < 2u; i = i + 1u) {
        rows[i] = a_row(row0 + lid.x + 16u * i);
    }
    for (var i = 0u; i < 8u; i = i + 1u) {
        cols[i] = b_col(col0 + lid.x + 16u * i, n);
    }
    for (var k0 = k_begin; k0 < k_end; k0 = k0 + BK) {
        let ka = a_k(k0 + lid.y, k_end);
        let kb = b_k(k0 + lid.y, k_end);
        for (var i = 0u; i < 2u; i = i + 1u) {
            wide_a[lid.y * WIDE_BM + lid.x + 16u * i] = a_value(rows[i], ka);
        }
        for (var i = 0u; i < 8u; i = i + 1u) {
            wide_b[lid.y * WIDE_BN + lid.x + 16u * i] = b_value(cols[i], kb);
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

// What `conv2d_large`'s fetches need: the fixed parts of this thread's 4 rows of A and 4
// columns of B, and the end of its k range.
var<private> large_rows: array<Part, 4>;
var<private> large_cols: array<Part, 4>;
var<private> large_k_end: u32;

// This thread's 4 values of A (rows 4 (tid % 32) and on, depth k0 + tid / 32).
fn large_fetch_a(tid: u32, row0: u32, k0: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (large_fetches_a(tid)) {
        let k = a_k(k0 + tid / 32u, large_k_end);
        for (var i = 0u; i < 4u; i = i + 1u) {
            v[i] = a_value(large_rows[i], k);
        }
    }
    return v;
}

// This thread's 4 values of B (columns 4 (tid % 32) and on, depth k0 + tid / 32).
fn large_fetch_b(tid: u32, col0: u32, k0: u32) -> vec4<f32> {
    let k = b_k(k0 + tid / 32u, large_k_end);
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i = i + 1u) {
        v[i] = b_value(large_cols[i], k);
    }
    return v;
}

// `conv2d` on 128x128 tiles, each thread an 8x8 block, or (LARGE_BM 64) on 64x128 tiles,
// each thread a 4x8 block (shaders/gemm_large.wgsl): the same products, outputs and
// splits, 2-4x the work per workgroup read.
@compute @workgroup_size(16, 16, 1)
fn conv2d_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let mnk = dims();
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * LARGE_BM;
    let col0 = wid.x * LARGE_BN;
    let work = layer_work(wid.z, mnk.z);
    let k_begin = work.y;
    large_k_end = work.z;
    for (var i = 0u; i < 4u; i = i + 1u) {
        large_rows[i] = a_row(row0 + (tid % 32u) * 4u + i);
        large_cols[i] = b_col(col0 + (tid % 32u) * 4u + i, work.x);
    }
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
