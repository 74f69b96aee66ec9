// The elementwise functions of wgnn, forward and derivative, selected by an op code (the
// discriminant of `UnaryOp` in src/ops/unary.rs). Included where a shader writes
// the activation marker: by unary.wgsl, and by the GEMM epilogues of matmul.wgsl,
// matmul_large.wgsl and conv2d.wgsl, which apply an activation to their output. Callers
// pass a constant (an `override`) as the op, so each pipeline compiles one branch.

// The op code of "no function": act_forward returns x unchanged.
const ACT_IDENTITY: u32 = 255u;

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

fn act_forward(op: u32, x: f32, alpha: f32, beta: f32) -> f32 {
    switch op {
        case 0u: { return -x; }
        case 1u: { return exp(x); }
        case 2u: { return log(x); }
        case 3u: { return sqrt(x); }
        case 4u: { return pow_real(x, alpha); }
        case 5u: { return abs(x); }
        case 6u: { return min(max(x, alpha), beta); }
        case 7u: { return max(x, 0.0); }
        case 8u: { return select(alpha * x, x, x > 0.0); }
        case 9u: { return stable_sigmoid(x); }
        case 10u: { return 1.0 - 2.0 / (exp(2.0 * x) + 1.0); }
        case 11u: { return select(alpha * (exp(x) - 1.0), x, x > 0.0); }
        case 12u: { return SELU_SCALE * select(SELU_ALPHA * (exp(x) - 1.0), x, x > 0.0); }
        case 13u: { return stable_softplus(x); }
        case 14u: { return x * stable_sigmoid(x); }
        case 15u: { return 0.5 * x * (1.0 + erf_approx(x * INV_SQRT2)); }
        case 16u: { return x + alpha; }
        case 17u: { return x * alpha; }
        case 18u: { return select(0.0, 1.0, x >= 0.0); } // step
        default: { return x; } // ACT_IDENTITY: no activation
    }
}

// dy/dx at x, given y = forward(x).
fn act_derivative(op: u32, x: f32, y: f32, alpha: f32, beta: f32) -> f32 {
    switch op {
        case 0u: { return -1.0; }
        case 1u: { return y; }
        case 2u: { return 1.0 / x; }
        case 3u: { return 0.5 / y; }
        case 4u: { return alpha * pow_real(x, alpha - 1.0); }
        case 5u: { return sign(x); }
        case 6u: { return select(0.0, 1.0, x >= alpha && x <= beta); }
        case 7u: { return select(0.0, 1.0, x > 0.0); }
        case 8u: { return select(alpha, 1.0, x > 0.0); }
        case 9u: { return y * (1.0 - y); }
        case 10u: { return 1.0 - y * y; }
        case 11u: { return select(y + alpha, 1.0, x > 0.0); }
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
        case 17u: { return alpha; }
        case 18u: { return 0.0; }
        default: { return 1.0; } // ACT_IDENTITY
    }
}

// Whether a GEMM epilogue applying `op` saves its input x (the pre-activation) for
// backward instead of its output y: SiLU and GELU, whose derivative does not follow from
// y (neither is one-to-one). `SAVES_INPUT` in src/ops/unary.rs lists the same codes.
fn saves_input(op: u32) -> bool {
    return op == 14u || op == 15u;
}

// dy/dx at x from the value a GEMM epilogue saves for backward: y = f(x) for ReLU, leaky
// ReLU and ELU with alpha > 0, sigmoid, tanh, SELU, softplus and step (the forward input
// is never stored), x itself for SiLU and GELU (see saves_input). `Epilogue` in
// src/ops/unary.rs admits no other function.
fn act_derivative_from_saved(op: u32, saved: f32, alpha: f32) -> f32 {
    let y = saved;
    switch op {
        case 7u: { return select(0.0, 1.0, y > 0.0); }
        case 8u: { return select(alpha, 1.0, y > 0.0); }
        case 9u: { return y * (1.0 - y); }
        case 10u: { return 1.0 - y * y; }
        case 11u: { return select(y + alpha, 1.0, y > 0.0); }
        case 12u: { return select(y + SELU_SCALE * SELU_ALPHA, SELU_SCALE, y > 0.0); }
        case 13u: { return 1.0 - exp(-y); }
        case 14u, 15u: { return act_derivative(op, saved, 0.0, alpha, 0.0); } // x: y unused
        case 18u: { return 0.0; }
        default: { return 1.0; } // ACT_IDENTITY
    }
}
