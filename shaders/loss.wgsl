// Losses. `pair_loss` writes each element's term of MSE, MAE or binary cross-entropy on
// logits (the mean is a reduction after it); `pair_loss_backward` writes both gradients.
// `cross_entropy` is fused: one workgroup per row computes the row's loss from logits and
// an integer label and writes the gradient (softmax - onehot) * scale in the same pass.
// `cross_entropy_tracked` does a whole small batch in one workgroup: the mean loss, the
// gradient, and the running sums of a training epoch (loss total, correct count) advanced
// by this batch, so a training step's loss and metrics are one dispatch. `advance_sums`
// advances those sums for the other losses, from their mean loss and correct count.

struct Params {
    n: u32,      // elements (pair) or rows (cross_entropy)
    cols: u32,   // classes (cross_entropy)
    scale: f32,  // 1 / count of the mean
}
//@params

// 0 squared error, 1 absolute error, 2 binary cross-entropy on logits
override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> term: array<f32>;

@compute @workgroup_size(256)
fn pair_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let x = p[i];
    let y = t[i];
    switch OP {
        case 0u: { term[i] = (x - y) * (x - y); }
        case 1u: { term[i] = abs(x - y); }
        default: { term[i] = max(x, 0.0) - x * y + log(1.0 + exp(-abs(x))); }
    }
}

@group(0) @binding(0) var<storage, read> bp: array<f32>;
@group(0) @binding(1) var<storage, read> bt: array<f32>;
@group(0) @binding(2) var<storage, read> upstream: array<f32>;
@group(0) @binding(3) var<storage, read_write> dp: array<f32>;
@group(0) @binding(4) var<storage, read_write> dt: array<f32>;

@compute @workgroup_size(256)
fn pair_loss_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let g = upstream[0] * P.scale;
    let x = bp[i];
    let y = bt[i];
    switch OP {
        case 0u: {
            dp[i] = 2.0 * (x - y) * g;
            dt[i] = -2.0 * (x - y) * g;
        }
        case 1u: {
            dp[i] = sign(x - y) * g;
            dt[i] = -sign(x - y) * g;
        }
        default: {
            dp[i] = (stable_sigmoid(x) - y) * g;
            dt[i] = -x * g;
        }
    }
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
@group(0) @binding(2) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

// A label outside [0, cols) makes that row's loss and gradient NaN.
@compute @workgroup_size(WG)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    let valid = row < P.n;
    let base = row * P.cols;
    var m = -3.4028235e38;
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            m = max(m, logits[base + j]);
        }
    }
    m = workgroup_max(m, lid.x);
    var s = 0.0;
    if (valid) {
        for (var j = lid.x; j < P.cols; j = j + WG) {
            s = s + exp(logits[base + j] - m);
        }
    }
    s = workgroup_sum(s, lid.x);
    if (!valid) {
        return;
    }
    let label_f = labels[row];
    let in_range = label_f >= 0.0 && label_f < f32(P.cols) && floor(label_f) == label_f;
    let label = u32(max(label_f, 0.0));
    let nan = bitcast<f32>(0x7fc00000u);
    for (var j = lid.x; j < P.cols; j = j + WG) {
        let prob = exp(logits[base + j] - m) / s;
        let target_j = select(0.0, 1.0, j == label);
        grad[base + j] = select(nan, (prob - target_j) * P.scale, in_range);
    }
    if (lid.x == 0u) {
        let lse = m + log(s);
        row_loss[row] = select(nan, lse - logits[base + min(label, P.cols - 1u)], in_range);
    }
}

@group(0) @binding(0) var<storage, read> tl_logits: array<f32>;
@group(0) @binding(1) var<storage, read> tl_labels: array<f32>;
@group(0) @binding(2) var<storage, read> tl_sums_before: array<f32>; // [loss total, correct]
@group(0) @binding(3) var<storage, read_write> tl_loss: array<f32>;  // [mean loss]
@group(0) @binding(4) var<storage, read_write> tl_grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> tl_sums: array<f32>;  // sums_before + batch

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// One workgroup; each thread takes rows lid, lid + WG, ... A row is correct when its
// first arg-max (NaN counting as the largest) is its label; a label outside [0, cols)
// makes the loss and that row's gradient NaN.
@compute @workgroup_size(WG)
fn cross_entropy_tracked(@builtin(local_invocation_id) lid: vec3<u32>) {
    var loss_sum = 0.0;
    var hits = 0.0;
    for (var row = lid.x; row < P.n; row = row + WG) {
        let base = row * P.cols;
        var m = tl_logits[base];
        var best = 0u;
        for (var j = 1u; j < P.cols; j = j + 1u) {
            let v = tl_logits[base + j];
            if (v > m || (v != v && m == m)) {
                m = v;
                best = j;
            }
        }
        var s = 0.0;
        for (var j = 0u; j < P.cols; j = j + 1u) {
            s = s + exp(tl_logits[base + j] - m);
        }
        let label_f = tl_labels[row];
        let in_range = label_f >= 0.0 && label_f < f32(P.cols) && floor(label_f) == label_f;
        let label = min(u32(max(label_f, 0.0)), P.cols - 1u);
        for (var j = 0u; j < P.cols; j = j + 1u) {
            let prob = exp(tl_logits[base + j] - m) / s;
            let target_j = select(0.0, 1.0, j == label);
            tl_grad[base + j] = select(nan_f32(), (prob - target_j) * P.scale, in_range);
        }
        loss_sum = loss_sum + select(nan_f32(), m + log(s) - tl_logits[base + label], in_range);
        hits = hits + select(0.0, 1.0, in_range && best == label);
    }
    let total = workgroup_sum(loss_sum, lid.x);
    let correct = workgroup_sum(hits, lid.x);
    if (lid.x == 0u) {
        tl_loss[0] = total * P.scale;
        tl_sums[0] = tl_sums_before[0] + total;
        tl_sums[1] = tl_sums_before[1] + correct;
    }
}

@group(0) @binding(0) var<storage, read> as_before: array<f32>;  // [loss total, correct]
@group(0) @binding(1) var<storage, read> as_loss: array<f32>;    // [mean loss]
@group(0) @binding(2) var<storage, read> as_correct: array<f32>; // [correct count]
@group(0) @binding(3) var<storage, read_write> as_after: array<f32>;

// after = before + [mean loss * rows (P.scale), correct count where P.cols is 1].
@compute @workgroup_size(1)
fn advance_sums() {
    as_after[0] = as_before[0] + as_loss[0] * P.scale;
    as_after[1] = as_before[1] + select(0.0, as_correct[0], P.cols == 1u);
}
