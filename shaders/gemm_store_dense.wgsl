// The output of a dense layer's GEMM (the `dense` families): C = act(A·B + bias), the bias
// indexed by C's column (one per output feature) and the activation chosen by the ACT
// override (ACT_IDENTITY: none), then dropout where Params asks, so Linear + activation
// (+ dropout) is one dispatch. Included where a
// GEMM shader has the gemm_output marker; `store` writes one element, `store4` four. The
// `_pre` families also keep each pre-activation (after the bias) in `pre`, for an
// activation whose derivative needs it (SiLU, GELU): the `keep_input` that
// src/device/pipelines.rs appends stores it; the others' does nothing.

override ACT: u32 = 255u;
override HAS_BIAS: bool = true;

@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;

// Element i of C (column col) from its product v: bias, activation, then the dropout that
// follows the layer (its mask made from the counter-based RNG, as Tensor::dropout's).
fn epilogue(i: u32, col: u32, v: f32) -> f32 {
    var s = v;
    if (HAS_BIAS) {
        s = s + bias[col];
    }
    keep_input(i, s);
    let y = act_forward(ACT, s, P.alpha, 0.0);
    if (P.drop_p == 0.0) {
        return y;
    }
    return select(0.0, y * P.drop_scale, seeded_uniform(i, P.seed_lo, P.seed_hi) >= P.drop_p);
}

fn store(i: u32, col: u32, v: f32) {
    c[i] = epilogue(i, col, v);
}

fn store4(i4: u32, col: u32, v: vec4<f32>) {
    let i = i4 * 4u;
    c4[i4] = vec4<f32>(epilogue(i, col, v.x), epilogue(i + 1u, col + 1u, v.y),
                       epilogue(i + 2u, col + 2u, v.z), epilogue(i + 3u, col + 3u, v.w));
}

fn store_row_sum(i: u32, v: f32) {} // row sums are the `matmul_row_sums` family's
