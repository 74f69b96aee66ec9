// 2-D max and average pooling over (N·C) planes of H x W, and their gradients. One thread
// per output element (forward) or per input pixel (backward). The backward kernels gather:
// each input pixel sums the output gradients of the windows that contain it, so windows
// that overlap need no atomics and the result is deterministic.
// Average pooling divides by the number of taps inside the image (padding not counted, as
// Keras does); max pooling ignores the padding and records the winning tap's index in the
// plane (exact in f32 for planes under 2^24 pixels, which the host checks). A dropout that
// follows the pooling runs in the same kernels (`dropped`), forward and back.

struct Params {
    planes: u32, h: u32, w: u32, oh: u32,
    ow: u32, kh: u32, kw: u32, sh: u32,
    sw: u32, ph: u32, pw: u32,
    drop_p: f32,     // dropout after the pooling: drop probability (0: none)
    drop_scale: f32, // 1 / (1 - drop_p)
    seed_lo: u32,    // the dropout mask's seed
    seed_hi: u32,
}
//@params

@group(0) @binding(0) var<storage, read> src: array<f32>;        // x (forward) or dy (backward)
@group(0) @binding(1) var<storage, read> argmax: array<f32>;     // max backward only
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // y (forward) or dx (backward)
@group(0) @binding(3) var<storage, read_write> out_index: array<f32>; // max forward only

// The in-image rows [x, y) and columns [z, w) of the window at output (oy, ox); never empty,
// as the padding is at most half the window (the CPU twin is Geometry::window in pool.rs).
fn window(oy: u32, ox: u32) -> vec4<u32> {
    let top = i32(oy * P.sh) - i32(P.ph);
    let left = i32(ox * P.sw) - i32(P.pw);
    return vec4<u32>(
        u32(max(top, 0)), u32(min(top + i32(P.kh), i32(P.h))),
        u32(max(left, 0)), u32(min(left + i32(P.kw), i32(P.w))),
    );
}

// Number of taps in a window from `window`.
fn taps(b: vec4<u32>) -> f32 {
    return f32((b.y - b.x) * (b.w - b.z));
}

// Number of taps of window (oy, ox) inside the image.
fn taps_inside(oy: u32, ox: u32) -> f32 {
    return taps(window(oy, ox));
}

// Output element i after the dropout that follows the pooling (its mask made on the fly,
// the same bits as Tensor::dropout); backward applies it to dy likewise.
fn dropped(v: f32, i: u32) -> f32 {
    if (P.drop_p == 0.0) {
        return v;
    }
    return select(0.0, v * P.drop_scale, seeded_uniform(i, P.seed_lo, P.seed_hi) >= P.drop_p);
}

// (plane, output row) of output element i.
fn plane_and_row(i: u32) -> vec2<u32> {
    let per_plane = P.oh * P.ow;
    return vec2<u32>(i / per_plane, (i % per_plane) / P.ow);
}

@compute @workgroup_size(256)
fn max_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.planes * P.oh * P.ow) {
        return;
    }
    let at = plane_and_row(i);
    let b = window(at.y, i % P.ow);
    let base = at.x * P.h * P.w;
    var best_index = b.x * P.w + b.z;
    var best = src[base + best_index];
    for (var y = b.x; y < b.y; y++) {
        for (var x = b.z; x < b.w; x++) {
            let q = y * P.w + x;
            let v = src[base + q];
            // The first maximum wins; a NaN wins over any number (as on the CPU).
            if (v > best || (v != v && best == best)) {
                best = v;
                best_index = q;
            }
        }
    }
    out[i] = dropped(best, i);
    out_index[i] = f32(best_index);
}

@compute @workgroup_size(256)
fn avg_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.planes * P.oh * P.ow) {
        return;
    }
    let at = plane_and_row(i);
    let b = window(at.y, i % P.ow);
    let base = at.x * P.h * P.w;
    var total = 0.0;
    for (var y = b.x; y < b.y; y++) {
        for (var x = b.z; x < b.w; x++) {
            total += src[base + y * P.w + x];
        }
    }
    out[i] = dropped(total / taps(b), i);
}

// Output position along one axis whose window holds input coordinate `q` at tap `k`, or -1.
fn window_through(q: u32, k: u32, stride: u32, pad: u32, extent: u32) -> i32 {
    let t = i32(q) + i32(pad) - i32(k);
    if (t < 0 || t % i32(stride) != 0 || u32(t) / stride >= extent) {
        return -1;
    }
    return t / i32(stride);
}

// dx[q] = Σ over windows containing q of dy (average: divided by the window's taps; max:
// only where q won the window).
fn pool_backward(i: u32, is_max: bool) {
    let plane = i / (P.h * P.w);
    let q = i % (P.h * P.w);
    let iy = q / P.w;
    let ix = q % P.w;
    var total = 0.0;
    for (var ky = 0u; ky < P.kh; ky++) {
        let oy = window_through(iy, ky, P.sh, P.ph, P.oh);
        if (oy < 0) {
            continue;
        }
        for (var kx = 0u; kx < P.kw; kx++) {
            let ox = window_through(ix, kx, P.sw, P.pw, P.ow);
            if (ox < 0) {
                continue;
            }
            let j = (plane * P.oh + u32(oy)) * P.ow + u32(ox);
            if (is_max) {
                if (u32(argmax[j]) == q) {
                    total += dropped(src[j], j);
                }
            } else {
                total += dropped(src[j], j) / taps_inside(u32(oy), u32(ox));
            }
        }
    }
    out[i] = total;
}

@compute @workgroup_size(256)
fn max_pool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.planes * P.h * P.w) {
        pool_backward(i, true);
    }
}

@compute @workgroup_size(256)
fn avg_pool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.planes * P.h * P.w) {
        pool_backward(i, false);
    }
}
