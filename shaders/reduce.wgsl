// Reductions. `reduce_rows` gives one workgroup to each contiguous row (sum over the last
// axis, or a chunk of a whole-tensor sum); `reduce_strided` gives one thread to each output
// of an inner axis; `max_axis` finds values and arg-max; `max_backward` routes gradients.

struct Params {
    rows: u32,    // outputs (reduce_rows) or outer count
    len: u32,     // elements per row / along the axis
    total: u32,   // reduce_rows: elements in the input; others: inner count
    scale: f32,   // multiplies each sum (1/len for a mean)
    l1: f32,      // penalty weights (OP 2 and penalty_backward)
    l2: f32,
}
//@params

// 0 sum, 1 max, 2 sum of the penalty l1·|x| + l2·x²
override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// This workgroup's row of `reduce_rows`: the reduction of its elements (times scale for a
// sum); every thread gets it.
fn row_reduction(row: u32, lid: vec3<u32>) -> f32 {
    let start = row * P.len;
    let end = min(start + P.len, P.total);
    var acc = select(0.0, -3.4028235e38, OP == 1u);
    if (row < P.rows) {
        for (var i = start + lid.x; i < end; i = i + WG) {
            if (OP == 1u) {
                acc = max(acc, x[i]);
            } else if (OP == 2u) {
                let v = x[i];
                acc = acc + P.l1 * abs(v) + P.l2 * v * v;
            } else {
                acc = acc + x[i];
            }
        }
    }
    if (OP == 1u) {
        return workgroup_max(acc, lid.x);
    }
    return workgroup_sum(acc, lid.x) * P.scale;
}

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    let r = row_reduction(row, lid);
    if (row < P.rows && lid.x == 0u) {
        out[row] = r;
    }
}

@group(0) @binding(1) var<storage, read> plus_base: array<f32>;
@group(0) @binding(2) var<storage, read_write> plus_out: array<f32>;

// One row (a whole tensor, or the partial sums of its chunks) reduced and added to the
// one value of `plus_base`: a loss plus a penalty in one dispatch.
@compute @workgroup_size(WG)
fn reduce_plus(@builtin(local_invocation_id) lid: vec3<u32>) {
    let r = row_reduction(0u, lid);
    if (lid.x == 0u) {
        plus_out[0] = plus_base[0] + r;
    }
}

@compute @workgroup_size(256)
fn reduce_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = flat_id(wid, nwg, lid);
    let inner = P.total;
    if (o >= P.rows * inner) {
        return;
    }
    let base = (o / inner) * P.len * inner + o % inner;
    var acc = 0.0;
    for (var j = 0u; j < P.len; j = j + 1u) {
        acc = acc + x[base + j * inner];
    }
    out[o] = acc * P.scale;
}

@group(0) @binding(0) var<storage, read> mx: array<f32>;
@group(0) @binding(1) var<storage, read_write> max_values: array<f32>;
@group(0) @binding(2) var<storage, read_write> max_indices: array<f32>;

// Maximum along an axis and its first index (NaN counts as the maximum, as on the CPU).
@compute @workgroup_size(256)
fn max_axis(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = flat_id(wid, nwg, lid);
    let inner = P.total;
    if (o >= P.rows * inner) {
        return;
    }
    let base = (o / inner) * P.len * inner + o % inner;
    var best = mx[base];
    var best_j = 0u;
    for (var j = 1u; j < P.len; j = j + 1u) {
        let v = mx[base + j * inner];
        if (v > best || (v != v && best == best)) {
            best = v;
            best_j = j;
        }
    }
    max_values[o] = best;
    max_indices[o] = f32(best_j);
}

@group(0) @binding(0) var<storage, read> g_out: array<f32>;
@group(0) @binding(1) var<storage, read> g_idx: array<f32>;
@group(0) @binding(2) var<storage, read_write> g_in: array<f32>;

// One thread per input element: it receives the output gradient if it was the arg-max.
@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    let inner = P.total;
    if (i >= P.rows * P.len * inner) {
        return;
    }
    let within = i % inner;
    let j = (i / inner) % P.len;
    let o = (i / (inner * P.len)) * inner + within;
    g_in[i] = select(0.0, g_out[o], u32(g_idx[o]) == j);
}

@group(0) @binding(0) var<storage, read> pen_x: array<f32>;
@group(0) @binding(1) var<storage, read> pen_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> pen_dx: array<f32>;
@group(0) @binding(2) var<storage, read> pen_plus: array<f32>;
@group(0) @binding(3) var<storage, read_write> pen_dx_plus: array<f32>;

// The gradient of the penalty l1·Σ|x| + l2·Σx² at element i, scaled by the one-value
// output gradient.
fn penalty_grad(i: u32) -> f32 {
    let v = pen_x[i];
    return pen_g[0] * (P.l1 * sign(v) + 2.0 * P.l2 * v);
}

@compute @workgroup_size(256)
fn penalty_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.rows) {
        pen_dx[i] = penalty_grad(i);
    }
}

// The same added to x's other gradient, in the same pass.
@compute @workgroup_size(256)
fn penalty_backward_plus(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.rows) {
        pen_dx_plus[i] = pen_plus[i] + penalty_grad(i);
    }
}
