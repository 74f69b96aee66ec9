// How a `_gated` GEMM reads A: each element times the derivative of activation ACT_A at the
// matching element of `gate`, that activation's output, stored like A. So a layer's
// backward products take dz = dy ⊙ act'(y) straight from dy, with no pass of their own.
// An L1/L2 penalty on y (an activity regularizer) adds its gradient l1·sign y + 2·l2·y
// to dy first, in the same load. The gate is the first binding after A, B; the output
// stage's bindings follow it.

override ACT_A: u32 = 255u;

@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> gate4: array<vec4<f32>>;

// dy and the activation's output y at one element: (dy + penalty'(y)) · act'(y).
fn gated(dy: f32, y: f32) -> f32 {
    let penalized = dy + P.pen_l1 * sign(y) + 2.0 * P.pen_l2 * y;
    return penalized * act_derivative_from_output(ACT_A, y, P.alpha);
}

fn load_a(i: u32) -> f32 {
    return gated(a[i], gate[i]);
}

fn load_a4(i4: u32) -> vec4<f32> {
    let dy = a4[i4];
    let y = gate4[i4];
    return vec4<f32>(gated(dy.x, y.x), gated(dy.y, y.y), gated(dy.z, y.z), gated(dy.w, y.w));
}
