// Softmax and log-softmax over the last axis, one workgroup per row, max-shifted for
// stability; and their backward passes.

struct Params {
    rows: u32,
    cols: u32,
}
//@params

// 0 softmax, 1 log_softmax
override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    let valid = row < P.rows;
    let base = row * P.cols;
    var m = -3.4028235e38;
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            m = max(m, x[base + j]);
        }
    }
    m = workgroup_max(m, lid.x);
    var s = 0.0;
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            s = s + exp(x[base + j] - m);
        }
    }
    s = workgroup_sum(s, lid.x);
    if (valid) {
        let log_s = log(s);
        for (var j = lid.x; j < P.cols; j = j + WG) {
            let shifted = x[base + j] - m;
            if (OP == 1u) {
                y[base + j] = shifted - log_s;
            } else {
                y[base + j] = exp(shifted) / s;
            }
        }
    }
}

@group(0) @binding(0) var<storage, read> by: array<f32>;
@group(0) @binding(1) var<storage, read> bdy: array<f32>;
@group(0) @binding(2) var<storage, read_write> bdx: array<f32>;

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    let valid = row < P.rows;
    let base = row * P.cols;
    var s = 0.0;
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            if (OP == 1u) {
                s = s + bdy[base + j];
            } else {
                s = s + bdy[base + j] * by[base + j];
            }
        }
    }
    s = workgroup_sum(s, lid.x);
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            if (OP == 1u) {
                bdx[base + j] = bdy[base + j] - exp(by[base + j]) * s;
            } else {
                bdx[base + j] = by[base + j] * (bdy[base + j] - s);
            }
        }
    }
}
