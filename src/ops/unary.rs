//! Elementwise unary ops and activations. One WGSL kernel (shaders/unary.wgsl)
//! specialized per op; the CPU twin below mirrors it formula for formula.

use crate::autograd::record;
use crate::device::{Device, Kernel, Params};
use crate::error::{Error, Result};
use crate::tensor::{host_pool, Tensor};

/// The unary functions; the discriminant is the shader's `OP` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum UnaryOp {
    /// -x
    Neg = 0,
    /// e^x
    Exp,
    /// ln x
    Log,
    /// √x
    Sqrt,
    /// x^alpha
    Powf,
    /// |x|
    Abs,
    /// min(max(x, alpha), beta)
    Clamp,
    /// max(x, 0)
    Relu,
    /// x if x > 0 else alpha·x
    LeakyRelu,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh x
    Tanh,
    /// x if x > 0 else alpha·(e^x − 1)
    Elu,
    /// scale·(x if x > 0 else alpha·(e^x − 1)) with the self-normalizing constants
    Selu,
    /// ln(1 + e^x)
    Softplus,
    /// x·sigmoid(x) (swish)
    Silu,
    /// x·Φ(x) (exact form, erf approximated to 1.5e-7)
    Gelu,
    /// x + alpha
    AddScalar,
    /// x·alpha
    MulScalar,
    /// 1 if x ≥ 0 else 0 (the perceptron's step; its gradient is zero)
    Step,
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;
const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

fn erf_approx(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 {
        y
    } else {
        -y
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn pow_real(x: f32, a: f32) -> f32 {
    if a == 0.0 {
        1.0
    } else {
        x.powf(a)
    }
}

impl UnaryOp {
    /// f(x), the CPU twin of `forward` in the shader.
    fn apply(self, x: f32, alpha: f32, beta: f32) -> f32 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Powf => pow_real(x, alpha),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Clamp => x.max(alpha).min(beta),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::LeakyRelu => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => 1.0 - 2.0 / ((2.0 * x).exp() + 1.0),
            UnaryOp::Elu => {
                if x > 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            UnaryOp::Selu => {
                SELU_SCALE
                    * if x > 0.0 {
                        x
                    } else {
                        SELU_ALPHA * (x.exp() - 1.0)
                    }
            }
            UnaryOp::Softplus => x.max(0.0) + (1.0 + (-x.abs()).exp()).ln(),
            UnaryOp::Silu => x * sigmoid(x),
            UnaryOp::Gelu => 0.5 * x * (1.0 + erf_approx(x * INV_SQRT2)),
            UnaryOp::AddScalar => x + alpha,
            UnaryOp::MulScalar => x * alpha,
            UnaryOp::Step => {
                if x >= 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    /// f'(x) given y = f(x), the CPU twin of `derivative` in the shader.
    fn derivative(self, x: f32, y: f32, alpha: f32, beta: f32) -> f32 {
        let gate = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            UnaryOp::Neg => -1.0,
            UnaryOp::Exp => y,
            UnaryOp::Log => 1.0 / x,
            UnaryOp::Sqrt => 0.5 / y,
            UnaryOp::Powf => alpha * pow_real(x, alpha - 1.0),
            UnaryOp::Abs => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            UnaryOp::Clamp => gate(x >= alpha && x <= beta),
            UnaryOp::Relu => gate(x > 0.0),
            UnaryOp::LeakyRelu => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            UnaryOp::Sigmoid => y * (1.0 - y),
            UnaryOp::Tanh => 1.0 - y * y,
            UnaryOp::Elu => {
                if x > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
            UnaryOp::Selu => SELU_SCALE * if x > 0.0 { 1.0 } else { SELU_ALPHA * x.exp() },
            UnaryOp::Softplus => sigmoid(x),
            UnaryOp::Silu => {
                let s = sigmoid(x);
                s + x * s * (1.0 - s)
            }
            UnaryOp::Gelu => {
                0.5 * (1.0 + erf_approx(x * INV_SQRT2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            }
            UnaryOp::AddScalar => 1.0,
            UnaryOp::MulScalar => alpha,
            UnaryOp::Step => 0.0,
        }
    }

    fn kernel(self, entry: &'static str, reads: u8) -> Kernel {
        Kernel::new("unary", entry, reads, 1).with("OP", self as u32)
    }
}

/// The op code of "no activation" in the GEMM epilogues (`ACT_IDENTITY` in
/// shaders/activation.wgsl).
pub(crate) const ACT_IDENTITY: u32 = 255;

/// An activation that a GEMM (a dense layer's matmul, a convolution) applies to its output
/// in the same kernel, after the bias, so that a layer and its activation cost one pass
/// over memory and, on the GPU, one dispatch. Backward needs one saved value per element:
/// the layer's output for most, its pre-activation for SiLU and GELU (whose derivative
/// does not follow from the output; see [`Epilogue::saves_input`]), which the same kernel
/// then also stores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epilogue {
    op: UnaryOp,
    alpha: f32,
}

impl Epilogue {
    /// The functions an epilogue can apply: every elementwise activation.
    pub const OPS: [UnaryOp; 10] = [
        UnaryOp::Relu,
        UnaryOp::LeakyRelu,
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Elu,
        UnaryOp::Selu,
        UnaryOp::Softplus,
        UnaryOp::Silu,
        UnaryOp::Gelu,
        UnaryOp::Step,
    ];

    /// The epilogue applying `op` with parameter `alpha` (the slope of leaky ReLU, ELU's
    /// alpha; ignored by the others). An op outside [`Epilogue::OPS`], or a leaky ReLU or
    /// ELU whose alpha is not > 0 (its output would not tell the sign of its input), is an
    /// error.
    pub fn new(op: UnaryOp, alpha: f32) -> Result<Epilogue> {
        if !Epilogue::OPS.contains(&op) {
            return Err(Error::invalid(
                "Epilogue",
                format!("one of {:?}, got {op:?}", Epilogue::OPS),
            ));
        }
        let needs_alpha = matches!(op, UnaryOp::LeakyRelu | UnaryOp::Elu);
        if needs_alpha && !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::invalid(
                "Epilogue",
                format!("{op:?} with a finite alpha > 0, got {alpha}"),
            ));
        }
        Ok(Epilogue { op, alpha })
    }

    /// The function.
    pub fn op(&self) -> UnaryOp {
        self.op
    }

    /// Its parameter.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// Whether backward needs the activation's input (the pre-activation z) rather than
    /// its output: SiLU and GELU, which are not one-to-one. A layer with such an epilogue
    /// keeps z beside its output while gradients are recorded (`saves_input` in
    /// shaders/activation.wgsl).
    pub fn saves_input(&self) -> bool {
        matches!(self.op, UnaryOp::Silu | UnaryOp::Gelu)
    }

    /// The shader's `ACT` code of an optional epilogue.
    pub(crate) fn code(epilogue: Option<Epilogue>) -> u32 {
        epilogue.map_or(ACT_IDENTITY, |e| e.op as u32)
    }

    /// f(x) on the CPU.
    fn apply(self, x: f32) -> f32 {
        self.op.apply(x, self.alpha, 0.0)
    }

    /// Applies f to every value of `ys` in place (ReLU in a loop that vectorises).
    pub(crate) fn apply_in_place(self, ys: &mut [f32]) {
        match self.op {
            UnaryOp::Relu => ys.iter_mut().for_each(|v| *v = v.max(0.0)),
            _ => ys.iter_mut().for_each(|v| *v = self.apply(*v)),
        }
    }

    /// f'(x) from the value the epilogue saved (y = f(x), or x where it
    /// [saves its input](Epilogue::saves_input)), the CPU twin of
    /// `act_derivative_from_saved` in the shader.
    fn derivative_from_saved(self, saved: f32) -> f32 {
        let y = saved;
        let positive = y > 0.0;
        match self.op {
            UnaryOp::Relu => f32::from(u8::from(positive)),
            UnaryOp::LeakyRelu => {
                if positive {
                    1.0
                } else {
                    self.alpha
                }
            }
            UnaryOp::Sigmoid => y * (1.0 - y),
            UnaryOp::Tanh => 1.0 - y * y,
            UnaryOp::Elu => {
                if positive {
                    1.0
                } else {
                    y + self.alpha
                }
            }
            UnaryOp::Selu => {
                if positive {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }
            UnaryOp::Softplus => 1.0 - (-y).exp(),
            UnaryOp::Silu | UnaryOp::Gelu => self.op.derivative(saved, 0.0, self.alpha, 0.0),
            _ => 0.0, // Step; no other op is an epilogue
        }
    }

    /// `out = dy ⊙ f'(x)` from the values the forward saved (y = f(x), or x), all of one
    /// length. ReLU is a select (a gradient of inf or NaN where y ≤ 0 gives 0, as on the
    /// GPU), and each op has a loop of its own so that it vectorises.
    #[inline(always)] // into `simd` callers
    pub(crate) fn gate_into(self, dy: &[f32], saved: &[f32], out: &mut [f32]) {
        let elements = out.iter_mut().zip(dy.iter().zip(saved));
        match self.op {
            UnaryOp::Relu => elements.for_each(|(o, (&g, &v))| *o = if v > 0.0 { g } else { 0.0 }),
            _ => elements.for_each(|(o, (&g, &v))| *o = g * self.derivative_from_saved(v)),
        }
    }

    /// dy ⊙ f'(x) from the values the forward saved (y = f(x), or x), in parallel chunks.
    pub(crate) fn cpu_gate(self, dy: &[f32], saved: &[f32]) -> Vec<f32> {
        let mut out = host_pool::uninit(dy.len());
        super::cpu::par_chunks(&mut out, super::cpu::GRAIN, |c, out| {
            let at = c * super::cpu::GRAIN..c * super::cpu::GRAIN + out.len();
            self.gate_into(&dy[at.clone()], &saved[at], out);
        });
        out
    }

    /// dx = dy · f'(x), from the values the forward saved (y = f(x), or x where the
    /// epilogue [saves its input](Epilogue::saves_input)).
    pub(crate) fn backward(self, saved: &Tensor, dy: &Tensor) -> Result<Tensor> {
        let (y, n) = (saved, saved.numel());
        match y.device() {
            Device::Cpu => {
                let data = self.cpu_gate(&dy.cpu_data(), &y.cpu_data());
                Ok(Tensor::from_cpu(y.shape().clone(), data))
            }
            device @ Device::Gpu(ctx) => {
                let dx = ctx.alloc(n, "activation gradient")?;
                ctx.dispatch(
                    &self.op.kernel("output_backward", 2),
                    &[y.gpu_buffer(), dy.gpu_buffer()],
                    &[&dx],
                    Params::new().u(n).f(self.alpha).f(0.0),
                    ctx.groups_1d(n, super::WORKGROUP),
                );
                Ok(Tensor::from_gpu(y.shape().clone(), dx, device))
            }
        }
    }
}

/// y = f(x) recorded on the tape.
fn unary(x: &Tensor, op: UnaryOp, alpha: f32, beta: f32) -> Result<Tensor> {
    let n = x.numel();
    let out = match x.device() {
        Device::Cpu => {
            let xs = x.cpu_data();
            // ReLU, the hot one, gets a loop of its own that vectorises.
            let data = match op {
                UnaryOp::Relu => super::cpu::par_map1(&xs, |v| v.max(0.0)),
                _ => super::cpu::par_map1(&xs, |v| op.apply(v, alpha, beta)),
            };
            Tensor::from_cpu(x.shape().clone(), data)
        }
        device @ Device::Gpu(ctx) => {
            let y = ctx.alloc(n, "unary op output")?;
            ctx.dispatch(
                &op.kernel("unary", 1),
                &[x.gpu_buffer()],
                &[&y],
                Params::new().u(n).f(alpha).f(beta),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Tensor::from_gpu(x.shape().clone(), y, device)
        }
    };
    let (saved_x, saved_y) = (x.detach(), out.clone());
    Ok(record("unary", out, &[x], move |g| {
        Ok(vec![Some(unary_grad(
            &saved_x, &saved_y, g, op, alpha, beta,
        )?)])
    }))
}

/// dx = dy · f'(x).
fn unary_grad(
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    op: UnaryOp,
    alpha: f32,
    beta: f32,
) -> Result<Tensor> {
    let n = x.numel();
    match x.device() {
        Device::Cpu => {
            let (xs, ys, gs) = (x.cpu_data(), y.cpu_data(), dy.cpu_data());
            let data = match op {
                UnaryOp::Relu => {
                    super::cpu::par_map2(&gs, &xs, |g, v| if v > 0.0 { g } else { 0.0 })
                }
                _ => super::cpu::par_map(n, |i| gs[i] * op.derivative(xs[i], ys[i], alpha, beta)),
            };
            Ok(Tensor::from_cpu(x.shape().clone(), data))
        }
        device @ Device::Gpu(ctx) => {
            let dx = ctx.alloc(n, "unary op gradient")?;
            ctx.dispatch(
                &op.kernel("unary_backward", 3),
                &[x.gpu_buffer(), y.gpu_buffer(), dy.gpu_buffer()],
                &[&dx],
                Params::new().u(n).f(alpha).f(beta),
                ctx.groups_1d(n, super::WORKGROUP),
            );
            Ok(Tensor::from_gpu(x.shape().clone(), dx, device))
        }
    }
}

fn finite(op: &'static str, name: &str, value: f32) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("{name} must be finite, got {value}"),
        ))
    }
}

impl Tensor {
    /// Applies `op` elementwise (`alpha`, `beta` as the op documents).
    pub fn map(&self, op: UnaryOp, alpha: f32, beta: f32) -> Result<Tensor> {
        unary(self, op, alpha, beta)
    }
    /// −x
    pub fn neg(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Neg, 0.0, 0.0)
    }
    /// e^x
    pub fn exp(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Exp, 0.0, 0.0)
    }
    /// ln x (NaN below 0, −∞ at 0)
    pub fn log(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Log, 0.0, 0.0)
    }
    /// √x
    pub fn sqrt(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Sqrt, 0.0, 0.0)
    }
    /// x^exponent (real for negative x when the exponent is an integer)
    pub fn powf(&self, exponent: f32) -> Result<Tensor> {
        finite("powf", "the exponent", exponent)?;
        unary(self, UnaryOp::Powf, exponent, 0.0)
    }
    /// |x|
    pub fn abs(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Abs, 0.0, 0.0)
    }
    /// min(max(x, low), high)
    pub fn clamp(&self, low: f32, high: f32) -> Result<Tensor> {
        if low.is_nan() || high.is_nan() || low > high {
            return Err(Error::invalid(
                "clamp",
                format!("low <= high, got low {low}, high {high}"),
            ));
        }
        unary(self, UnaryOp::Clamp, low, high)
    }
    /// max(x, 0)
    pub fn relu(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Relu, 0.0, 0.0)
    }
    /// x if x > 0 else slope·x (Keras' default slope is 0.3, PyTorch's 0.01)
    pub fn leaky_relu(&self, slope: f32) -> Result<Tensor> {
        finite("leaky_relu", "the slope", slope)?;
        unary(self, UnaryOp::LeakyRelu, slope, 0.0)
    }
    /// 1 / (1 + e^−x), stable for large |x|
    pub fn sigmoid(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Sigmoid, 0.0, 0.0)
    }
    /// tanh x
    pub fn tanh(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Tanh, 0.0, 0.0)
    }
    /// x if x > 0 else alpha·(e^x − 1)
    pub fn elu(&self, alpha: f32) -> Result<Tensor> {
        finite("elu", "alpha", alpha)?;
        unary(self, UnaryOp::Elu, alpha, 0.0)
    }
    /// SELU with the self-normalizing constants (alpha 1.6733, scale 1.0507)
    pub fn selu(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Selu, 0.0, 0.0)
    }
    /// ln(1 + e^x), stable
    pub fn softplus(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Softplus, 0.0, 0.0)
    }
    /// x·sigmoid(x), also called swish
    pub fn silu(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Silu, 0.0, 0.0)
    }
    /// x·Φ(x), the exact (erf) GELU
    pub fn gelu(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Gelu, 0.0, 0.0)
    }
    /// The perceptron's step: 1 if x ≥ 0 else 0 (zero gradient)
    pub fn step(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Step, 0.0, 0.0)
    }
    /// x + value
    pub fn add_scalar(&self, value: f32) -> Result<Tensor> {
        unary(self, UnaryOp::AddScalar, value, 0.0)
    }
    /// x · value
    pub fn mul_scalar(&self, value: f32) -> Result<Tensor> {
        unary(self, UnaryOp::MulScalar, value, 0.0)
    }
}
