// Elementwise unary ops and activations, forward and backward. OP selects the function
// at pipeline creation (an `override`), so each op compiles to its own branch-free kernel.
// The codes match `UnaryOp` in src/ops/unary.rs.

struct Params {
    n: u32,
    alpha: f32, // powf exponent, clamp low, leaky slope, elu alpha, scalar operand
    beta: f32,  // clamp high
}
//@params

override OP: u32 = 0u;

//@activation

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        y[i] = act_forward(OP, x[i], P.alpha, P.beta);
    }
}

@group(0) @binding(0) var<storage, read> bx: array<f32>;
@group(0) @binding(1) var<storage, read> by: array<f32>;
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;

// dx = dy * f'(x), with the saved forward output y.
@compute @workgroup_size(256)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        bdx[i] = bdy[i] * act_derivative(OP, bx[i], by[i], P.alpha, P.beta);
    }
}

@group(0) @binding(0) var<storage, read> oy: array<f32>;
@group(0) @binding(1) var<storage, read> ody: array<f32>;
@group(0) @binding(2) var<storage, read_write> odx: array<f32>;

// dx = dy * f'(x) from the value a fused GEMM epilogue saved: its output y, or its input x
// for SiLU and GELU (act_derivative_from_saved).
@compute @workgroup_size(256)
fn output_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        odx[i] = ody[i] * act_derivative_from_saved(OP, oy[i], P.alpha);
    }
}
