// How a `_gated` GEMM reads A: each element times the derivative of activation ACT_A at the
// matching element of `gate`, the value that activation's epilogue saved (its output y, or
// its input z for SiLU and GELU: act_derivative_from_saved), stored like A. So a layer's
// backward products take dz = dy ⊙ act'(z) straight from dy, with no pass of their own.
// An L1/L2 penalty on y (an activity regularizer) adds its gradient l1·sign y + 2·l2·y
// to dy first, in the same load. The gate is the first binding after A, B; the output
// stage's bindings follow it.

override ACT_A: u32 = 255u;

@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> gate4: array<vec4<f32>>;

// dy and the saved value at element i: (dy + penalty'(y)) · act'(z). Where a dropout
// followed the activation (in the dense kernel), y is its output: the mask of element i is
// made again, a dropped element gets 0 and a kept one scale · act'(z), with act' taken
// from y / scale where the epilogue saved its output.
fn gated(i: u32, dy: f32, saved: f32) -> f32 {
    var scale = 1.0;
    if (P.drop_p != 0.0) {
        if (seeded_uniform(i, P.seed_lo, P.seed_hi) < P.drop_p) {
            return 0.0;
        }
        scale = P.drop_scale;
    }
    let slope_at = select(saved / scale, saved, saves_input(ACT_A));
    var penalized = dy;
    if (P.pen_l1 != 0.0 || P.pen_l2 != 0.0) {
        var y = saved;
        if (saves_input(ACT_A)) {
            y = act_forward(ACT_A, saved, P.alpha, 0.0) * scale;
        }
        penalized = dy + P.pen_l1 * sign(y) + 2.0 * P.pen_l2 * y;
    }
    return penalized * scale * act_derivative_from_saved(ACT_A, slope_at, P.alpha);
}

fn load_a(i: u32) -> f32 {
    return gated(i, a[i], gate[i]);
}

fn load_a4(i4: u32) -> vec4<f32> {
    let dy = a4[i4];
    let s = gate4[i4];
    let i = i4 * 4u;
    return vec4<f32>(gated(i, dy.x, s.x), gated(i + 1u, dy.y, s.y), gated(i + 2u, dy.z, s.z),
                     gated(i + 3u, dy.w, s.w));
}
