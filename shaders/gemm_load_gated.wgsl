// How a `_gated` GEMM reads A: each element times the derivative of activation ACT_A at the
// matching element of `gate`, that activation's output, stored like A. So a layer's
// backward products take dz = dy ⊙ act'(y) straight from dy, with no pass of their own.
// The gate is the first binding after A, B; the output stage's bindings follow it.

override ACT_A: u32 = 255u;

@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> gate4: array<vec4<f32>>;

fn load_a(i: u32) -> f32 {
    return a[i] * act_derivative_from_output(ACT_A, gate[i], P.alpha);
}

fn load_a4(i4: u32) -> vec4<f32> {
    let y = gate4[i4];
    return a4[i4] * vec4<f32>(act_derivative_from_output(ACT_A, y.x, P.alpha),
                              act_derivative_from_output(ACT_A, y.y, P.alpha),
                              act_derivative_from_output(ACT_A, y.z, P.alpha),
                              act_derivative_from_output(ACT_A, y.w, P.alpha));
}
