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

const SELU_ALPHA: f32 = 1.6732632423543772;
const SELU_SCALE: f32 = 1.0507009873554805;
const INV_SQRT2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); the CPU twin uses the same formula.
fn erf_approx(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let y = 1.0 - poly * exp(-x * x);
    return select(-y, y, x >= 0.0);
}

fn is_odd_integer(a: f32) -> bool {
    return floor(a) == a && abs(a % 2.0) == 1.0;
}

// x^a that matches powf on the CPU for negative bases with integer exponents.
fn pow_real(x: f32, a: f32) -> f32 {
    if (a == 0.0) {
        return 1.0;
    }
    if (x < 0.0 && floor(a) == a) {
        let m = pow(-x, a);
        return select(m, -m, is_odd_integer(a));
    }
    return pow(x, a);
}

fn forward(x: f32) -> f32 {
    switch OP {
        case 0u: { return -x; }
        case 1u: { return exp(x); }
        case 2u: { return log(x); }
        case 3u: { return sqrt(x); }
        case 4u: { return pow_real(x, P.alpha); }
        case 5u: { return abs(x); }
        case 6u: { return min(max(x, P.alpha), P.beta); }
        case 7u: { return max(x, 0.0); }
        case 8u: { return select(P.alpha * x, x, x > 0.0); }
        case 9u: { return stable_sigmoid(x); }
        case 10u: { return 1.0 - 2.0 / (exp(2.0 * x) + 1.0); }
        case 11u: { return select(P.alpha * (exp(x) - 1.0), x, x > 0.0); }
        case 12u: { return SELU_SCALE * select(SELU_ALPHA * (exp(x) - 1.0), x, x > 0.0); }
        case 13u: { return stable_softplus(x); }
        case 14u: { return x * stable_sigmoid(x); }
        case 15u: { return 0.5 * x * (1.0 + erf_approx(x * INV_SQRT2)); }
        case 16u: { return x + P.alpha; }
        case 17u: { return x * P.alpha; }
        default: { return select(0.0, 1.0, x >= 0.0); } // step
    }
}

// dy/dx at x, given y = forward(x).
fn derivative(x: f32, y: f32) -> f32 {
    switch OP {
        case 0u: { return -1.0; }
        case 1u: { return y; }
        case 2u: { return 1.0 / x; }
        case 3u: { return 0.5 / y; }
        case 4u: { return P.alpha * pow_real(x, P.alpha - 1.0); }
        case 5u: { return sign(x); }
        case 6u: { return select(0.0, 1.0, x >= P.alpha && x <= P.beta); }
        case 7u: { return select(0.0, 1.0, x > 0.0); }
        case 8u: { return select(P.alpha, 1.0, x > 0.0); }
        case 9u: { return y * (1.0 - y); }
        case 10u: { return 1.0 - y * y; }
        case 11u: { return select(y + P.alpha, 1.0, x > 0.0); }
        case 12u: { return SELU_SCALE * select(SELU_ALPHA * exp(x), 1.0, x > 0.0); }
        case 13u: { return stable_sigmoid(x); }
        case 14u: {
            let s = stable_sigmoid(x);
            return s + x * s * (1.0 - s);
        }
        case 15u: {
            return 0.5 * (1.0 + erf_approx(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
        }
        case 16u: { return 1.0; }
        case 17u: { return P.alpha; }
        default: { return 0.0; }
    }
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_id(wid, nwg, lid);
    if (i < P.n) {
        y[i] = forward(x[i]);
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
        bdx[i] = bdy[i] * derivative(bx[i], by[i]);
    }
}
