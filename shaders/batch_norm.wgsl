// Batch normalization over x viewed as (N, C, S): statistics per channel over the M = N·S
// values, S = H·W (1 for (N, C) inputs).
//   y  = x̂ · gamma + beta,   x̂ = (x − mean) / sqrt(var + eps),   var biased (÷ M)
//   dx = gamma / sqrt(var + eps) · (dy − Σdy / M − x̂ · Σ(dy·x̂) / M)   (batch statistics)
//   dx = gamma / sqrt(var + eps) · dy                                  (given statistics:
//        the two sums are bound to zeros)
// Every entry point takes the same seven read-only bindings (unused ones bound to any
// buffer) and one output.

struct Params {
    n: u32,
    c: u32,
    s: u32,
    eps: f32,
}
//@params

// What channel_reduce sums per channel: 0 mean of x, 1 mean of (x − mean)², 2 Σdy,
// 3 Σ(dy·x̂).
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta_or_dy: array<f32>;
@group(0) @binding(5) var<storage, read> sum_dy: array<f32>;
@group(0) @binding(6) var<storage, read> sum_dy_xhat: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

fn inv_std(c: u32) -> f32 {
    return inverseSqrt(variance[c] + P.eps);
}

// One workgroup per channel: out[c] = the MODE sum over the channel's M values.
@compute @workgroup_size(WG)
fn channel_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = wid.y * nwg.x + wid.x;
    let count = P.n * P.s;
    var total = 0.0;
    if (c < P.c) {
        for (var j = lid.x; j < count; j += WG) {
            let k = ((j / P.s) * P.c + c) * P.s + j % P.s;
            switch MODE {
                case 0u: { total += x[k]; }
                case 1u: {
                    let d = x[k] - mean[c];
                    total += d * d;
                }
                case 2u: { total += beta_or_dy[k]; }
                default: { total += beta_or_dy[k] * (x[k] - mean[c]) * inv_std(c); }
            }
        }
    }
    let sum = workgroup_sum(total, lid.x);
    if (c < P.c && lid.x == 0u) {
        out[c] = select(sum, sum / f32(count), MODE <= 1u);
    }
}

// out = x̂ · gamma + beta.
@compute @workgroup_size(256)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n * P.c * P.s) {
        return;
    }
    let c = (i / P.s) % P.c;
    out[i] = (x[i] - mean[c]) * inv_std(c) * gamma[c] + beta_or_dy[c];
}

// out = dx.
@compute @workgroup_size(256)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i >= P.n * P.c * P.s) {
        return;
    }
    let c = (i / P.s) % P.c;
    let scale = inv_std(c);
    let m = f32(P.n * P.s);
    let xhat = (x[i] - mean[c]) * scale;
    out[i] = gamma[c] * scale * (beta_or_dy[i] - sum_dy[c] / m - xhat * sum_dy_xhat[c] / m);
}
