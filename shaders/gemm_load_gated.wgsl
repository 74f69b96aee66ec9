// How a `_gated` GEMM reads A: each element times the derivative of activation ACT_A at the
// matching element of `gate`, that activation's output, stored like A. So a layer's
// backward products take dz = dy ⊙ act'(y) straight from dy, with no pass of their own.
// An L1/L2 penalty on y (an activity regularizer) adds its gradient l1·sign y + 2·l2·y
// to dy first, in the same load. The gate is the first binding after A, B; the output
// stage's bindings follow it.

override ACT_A: u32 = 255u;

@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> gate4: array<vec4<f32>>;

// dy and the layer's output y at element i: (dy + penalty'(y)) · act'(y). Where a dropout
// followed the activation (in the dense kernel), y is its output: the mask of element i is
// made again, a dropped element gets 0 and a kept one scale · act'(y / scale).
fn gated(i: u32, dy: f32, y: f32) -> f32 {
    let penalized = dy + P.pen_l1 * sign(y) + 2.0 * P.pen_l2 * y;
    if (P.drop_p == 0.0) {
        return penalized * act_derivative_from_output(ACT_A, y, P.alpha);
    }
    if (seeded_uniform(i, P.seed_lo, P.seed_hi) < P.drop_p) {
        return 0.0;
    }
    let activated = y / P.drop_scale;
    return penalized * P.drop_scale * act_derivative_from_output(ACT_A, activated, P.alpha);
}

fn load_a(i: u32) -> f32 {
    return gated(i, a[i], gate[i]);
}

fn load_a4(i4: u32) -> vec4<f32> {
    let dy = a4[i4];
    let y = gate4[i4];
    let i = i4 * 4u;
    return vec4<f32>(gated(i, dy.x, y.x), gated(i + 1u, dy.y, y.y), gated(i + 2u, dy.z, y.z),
                     gated(i + 3u, dy.w, y.w));
}
