//! The table of ops under test: each case names its inputs' shapes and domains. Both
//! the GPU-vs-CPU test and the gradient check walk this table, so every op is in both.

use super::Domain;
use wgnn::ops::{Conv2dOptions, Epilogue, Pool2dOptions, UnaryOp};
use wgnn::{Result, Tensor};

/// One op under test.
pub struct Case {
    pub name: &'static str,
    /// Input domains, one per input.
    pub domains: Vec<Domain>,
    /// Shape sets for the GPU-vs-CPU comparison: awkward sizes (1, 3, 17, 65, 127).
    pub shapes: Vec<Vec<Vec<usize>>>,
    /// Small shapes for the finite-difference check.
    pub grad_shapes: Vec<Vec<usize>>,
    pub f: fn(&[Tensor]) -> Result<Tensor>,
    /// Relative tolerance of GPU vs CPU.
    pub tol: f32,
    /// Whether the op has a gradient to check.
    pub differentiable: bool,
}

const ANY: Domain = Domain::Uniform(-2.0, 2.0, &[]);
const NONZERO: Domain = Domain::Uniform(-2.0, 2.0, &[0.0]);
const POSITIVE: Domain = Domain::Uniform(0.2, 3.0, &[]);
const PROBS: Domain = Domain::Uniform(0.0, 1.0, &[]);

fn unary(name: &'static str, domain: Domain, f: fn(&[Tensor]) -> Result<Tensor>) -> Case {
    Case {
        name,
        domains: vec![domain],
        shapes: vec![
            vec![vec![1]],
            vec![vec![3, 17]],
            vec![vec![65, 127]],
            vec![vec![3, 1, 17, 5]],
        ],
        grad_shapes: vec![vec![3, 5]],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

fn binary(name: &'static str, b_domain: Domain, f: fn(&[Tensor]) -> Result<Tensor>) -> Case {
    Case {
        name,
        domains: vec![ANY, b_domain],
        shapes: vec![
            vec![vec![1], vec![1]],
            vec![vec![17, 65], vec![17, 65]],
            vec![vec![65, 127], vec![127]],
            vec![vec![3, 1, 17], vec![5, 1]],
            vec![vec![3, 17], vec![]],
            vec![vec![1, 17], vec![3, 1]],
        ],
        grad_shapes: vec![vec![3, 1, 4], vec![2, 1]],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

fn matmul(
    name: &'static str,
    a: &[usize],
    b: &[usize],
    f: fn(&[Tensor]) -> Result<Tensor>,
) -> Case {
    // Shapes are given for m=65, k=127, n=17; the grad shapes scale them down.
    let small = |d: &[usize]| {
        d.iter()
            .map(|&x| match x {
                65 => 3,
                127 => 5,
                17 => 4,
                o => o,
            })
            .collect()
    };
    let tiny = |d: &[usize]| {
        d.iter()
            .map(|&x| match x {
                65 => 1,
                127 => 3,
                17 => 1,
                o => o,
            })
            .collect()
    };
    Case {
        name,
        domains: vec![ANY, ANY],
        shapes: vec![vec![a.to_vec(), b.to_vec()], vec![tiny(a), tiny(b)]],
        grad_shapes: vec![small(a), small(b)],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

/// A dense layer (x, weight, bias) through `Tensor::linear`: awkward sizes on the scalar
/// kernel, input widths that are multiples of 4 (the vec4 kernel) and an output of at least
/// 512x512 (the large-tile kernel).
fn linear(name: &'static str, f: fn(&[Tensor]) -> Result<Tensor>) -> Case {
    Case {
        name,
        domains: vec![ANY, ANY, ANY],
        shapes: vec![
            vec![vec![65, 127], vec![17, 127], vec![17]],
            vec![vec![1, 3], vec![1, 3], vec![1]],
            vec![vec![33, 20], vec![7, 20], vec![7]],
            vec![vec![520, 8], vec![516, 8], vec![516]],
        ],
        grad_shapes: vec![vec![3, 5], vec![4, 5], vec![4]],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

/// A case of one shape set whose outputs sum thousands of terms (products and
/// convolutions split over workgroups): tolerance 1e-3, as f32 sums that long differ that
/// much by their order alone.
fn long_sum(
    name: &'static str,
    shapes: Vec<Vec<usize>>,
    grad_shapes: Vec<Vec<usize>>,
    f: fn(&[Tensor]) -> Result<Tensor>,
) -> Case {
    Case {
        name,
        domains: vec![ANY; shapes.len()],
        shapes: vec![shapes],
        grad_shapes,
        f,
        tol: 1e-3,
        differentiable: true,
    }
}

/// [`long_sum`] for a convolution of input and weight shapes `[x, w]` (the bias: one per
/// output channel), checked for gradients at `[small_x, small_w]`.
fn long_conv(
    name: &'static str,
    [x, w]: [[usize; 4]; 2],
    [small_x, small_w]: [[usize; 4]; 2],
    f: fn(&[Tensor]) -> Result<Tensor>,
) -> Case {
    let shapes = vec![x.to_vec(), w.to_vec(), vec![w[0]]];
    let grad_shapes = vec![small_x.to_vec(), small_w.to_vec(), vec![small_w[0]]];
    long_sum(name, shapes, grad_shapes, f)
}

/// The epilogue `op` with parameter `alpha`.
fn epilogue(op: UnaryOp, alpha: f32) -> Result<Option<Epilogue>> {
    Epilogue::new(op, alpha).map(Some)
}

fn reduce(name: &'static str, f: fn(&[Tensor]) -> Result<Tensor>) -> Case {
    Case {
        name,
        domains: vec![ANY],
        shapes: vec![
            vec![vec![1, 1]],
            vec![vec![3, 17]],
            vec![vec![65, 127]],
            vec![vec![127, 3]],
            vec![vec![5, 3, 17]],
        ],
        grad_shapes: vec![vec![3, 4, 2]],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

fn loss(name: &'static str, target: Domain, f: fn(&[Tensor]) -> Result<Tensor>) -> Case {
    Case {
        name,
        domains: vec![ANY, target],
        shapes: vec![
            vec![vec![1], vec![1]],
            vec![vec![17, 3], vec![17, 3]],
            vec![vec![127, 65], vec![127, 65]],
        ],
        grad_shapes: vec![vec![4, 3], vec![4, 3]],
        f,
        tol: 1e-4,
        differentiable: true,
    }
}

/// Every op of the foundation.
pub fn all() -> Vec<Case> {
    let mut cases = vec![
        unary("neg", ANY, |x| x[0].neg()),
        unary("exp", ANY, |x| x[0].exp()),
        unary("log", POSITIVE, |x| x[0].log()),
        unary("sqrt", POSITIVE, |x| x[0].sqrt()),
        unary("powf_3", ANY, |x| x[0].powf(3.0)),
        unary("powf_0.5", POSITIVE, |x| x[0].powf(0.5)),
        unary("abs", NONZERO, |x| x[0].abs()),
        unary("clamp", Domain::Uniform(-2.0, 2.0, &[-0.5, 0.7]), |x| {
            x[0].clamp(-0.5, 0.7)
        }),
        unary("relu", NONZERO, |x| x[0].relu()),
        unary("leaky_relu", NONZERO, |x| x[0].leaky_relu(0.1)),
        unary("sigmoid", Domain::Uniform(-8.0, 8.0, &[]), |x| {
            x[0].sigmoid()
        }),
        unary("tanh", Domain::Uniform(-4.0, 4.0, &[]), |x| x[0].tanh()),
        unary("elu", NONZERO, |x| x[0].elu(1.0)),
        unary("selu", NONZERO, |x| x[0].selu()),
        unary("softplus", Domain::Uniform(-8.0, 8.0, &[]), |x| {
            x[0].softplus()
        }),
        unary("silu", ANY, |x| x[0].silu()),
        unary("gelu", ANY, |x| x[0].gelu()),
        unary("step", NONZERO, |x| x[0].step()),
        unary("add_scalar", ANY, |x| x[0].add_scalar(0.75)),
        unary("mul_scalar", ANY, |x| x[0].mul_scalar(-1.5)),
        binary("add", ANY, |x| x[0].add(&x[1])),
        binary("sub", ANY, |x| x[0].sub(&x[1])),
        binary("mul", ANY, |x| x[0].mul(&x[1])),
        binary("div", Domain::Uniform(0.5, 2.0, &[]), |x| x[0].div(&x[1])),
        matmul("matmul", &[65, 127], &[127, 17], |x| x[0].matmul(&x[1])),
        matmul("matmul_ta", &[127, 65], &[127, 17], |x| {
            x[0].matmul_t(&x[1], true, false)
        }),
        matmul("matmul_tb", &[65, 127], &[17, 127], |x| {
            x[0].matmul_t(&x[1], false, true)
        }),
        matmul("matmul_ta_tb", &[127, 65], &[17, 127], |x| {
            x[0].matmul_t(&x[1], true, true)
        }),
        matmul("matmul_batched", &[3, 65, 127], &[3, 127, 17], |x| {
            x[0].matmul(&x[1])
        }),
        matmul("matmul_batched_shared_b", &[3, 65, 127], &[127, 17], |x| {
            x[0].matmul(&x[1])
        }),
        matmul(
            "matmul_shared_a_batched_tb",
            &[65, 127],
            &[3, 17, 127],
            |x| x[0].matmul_t(&x[1], false, true),
        ),
        linear("linear", |x| x[0].linear(&x[1], Some(&x[2]), None)),
        linear("linear_no_bias_relu", |x| {
            x[0].linear(&x[1], None, epilogue(UnaryOp::Relu, 0.0)?)
        }),
        linear("linear_relu", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Relu, 0.0)?)
        }),
        linear("linear_leaky_relu", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::LeakyRelu, 0.1)?)
        }),
        linear("linear_sigmoid", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Sigmoid, 0.0)?)
        }),
        linear("linear_tanh", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Tanh, 0.0)?)
        }),
        linear("linear_elu", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Elu, 0.7)?)
        }),
        linear("linear_selu", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Selu, 0.0)?)
        }),
        linear("linear_softplus", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Softplus, 0.0)?)
        }),
        linear("linear_step", |x| {
            x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Step, 0.0)?)
        }),
        reduce("sum", |x| x[0].sum()),
        Case {
            domains: vec![NONZERO],
            ..reduce("l1_l2_penalty", |x| x[0].l1_l2_penalty(0.3, 0.7))
        },
        Case {
            shapes: vec![vec![vec![129, 131]], vec![vec![16384]], vec![vec![16385]]],
            ..reduce("l2_penalty_two_stage", |x| x[0].l1_l2_penalty(0.0, 1e-3))
        },
        reduce("mean", |x| x[0].mean()),
        reduce("sum_axis0", |x| x[0].sum_axis(0, false)),
        reduce("sum_axis1_keepdim", |x| x[0].sum_axis(1, true)),
        reduce("mean_last_axis", |x| x[0].mean_axis(-1, false)),
        reduce("max_axis0", |x| x[0].max_axis(0, false)),
        reduce("max_last_axis_keepdim", |x| x[0].max_axis(-1, true)),
        reduce("softmax", |x| x[0].softmax()),
        reduce("log_softmax", |x| x[0].log_softmax()),
        reduce("transpose_or_reshape", |x| match x[0].dims() {
            [a, b] => x[0].transpose()?.reshape(&[*b, *a]),
            d => x[0].reshape(&[d.iter().product()]),
        }),
        loss("mse_loss", ANY, |x| x[0].mse_loss(&x[1])),
        loss("mae_loss", Domain::Uniform(-2.0, 2.0, &[]), |x| {
            x[0].mae_loss(&x[1])
        }),
        loss("bce_with_logits_loss", PROBS, |x| {
            x[0].bce_with_logits_loss(&x[1])
        }),
    ];
    cases.push(Case {
        name: "broadcast_to",
        domains: vec![ANY],
        shapes: vec![vec![vec![17]], vec![vec![1]], vec![vec![65]]],
        grad_shapes: vec![vec![4]],
        f: |x| x[0].broadcast_to(&[3, 5, x[0].dims()[0]]),
        tol: 1e-5,
        differentiable: true,
    });
    for classes in [1usize, 10, 17, 300] {
        cases.push(Case {
            name: "cross_entropy",
            domains: vec![Domain::Uniform(-4.0, 4.0, &[]), Domain::Labels],
            shapes: vec![
                vec![vec![1, classes], vec![1]],
                vec![vec![127, classes], vec![127]],
            ],
            grad_shapes: vec![vec![3, classes.min(5)], vec![3]],
            f: |x| x[0].cross_entropy(&x[1]),
            tol: 1e-4,
            differentiable: true,
        });
    }
    // The tracked cross-entropy: one workgroup up to 65,536 logits (rows beyond 256 take
    // turns), the separate ops beyond; its loss is differentiable, its running sums
    // (advanced from [0.5, 2]) are compared as values.
    for classes in [1usize, 10, 17, 300] {
        let shapes = vec![
            vec![vec![1, classes], vec![1]],
            vec![vec![300, classes], vec![300]],
        ];
        cases.push(Case {
            name: "cross_entropy_tracked",
            domains: vec![Domain::Uniform(-4.0, 4.0, &[]), Domain::Labels],
            shapes: shapes.clone(),
            grad_shapes: vec![vec![3, classes.min(5)], vec![3]],
            f: |x| {
                let sums = Tensor::zeros(&[2], x[0].device())?;
                Ok(x[0].cross_entropy_tracked(&x[1], &sums)?.0)
            },
            tol: 1e-4,
            differentiable: true,
        });
        cases.push(Case {
            name: "cross_entropy_tracked_sums",
            domains: vec![Domain::Uniform(-4.0, 4.0, &[]), Domain::Labels],
            shapes,
            grad_shapes: vec![],
            f: |x| {
                let before = Tensor::from_vec(vec![0.5, 2.0], &[2], x[0].device())?;
                let (loss, sums) = x[0].cross_entropy_tracked(&x[1], &before)?;
                sums.add(&loss.detach())
            },
            tol: 1e-4,
            differentiable: false,
        });
    }
    // conv2d: (input, weight, bias) with several geometries.
    let conv = |name: &'static str,
                x: [usize; 4],
                w: [usize; 4],
                small_x: [usize; 4],
                small_w: [usize; 4],
                f: fn(&[Tensor]) -> Result<Tensor>| Case {
        name,
        domains: vec![ANY, ANY, ANY],
        shapes: vec![vec![x.to_vec(), w.to_vec(), vec![w[0]]]],
        grad_shapes: vec![small_x.to_vec(), small_w.to_vec(), vec![small_w[0]]],
        f,
        tol: 1e-4,
        differentiable: true,
    };
    cases.push(conv(
        "conv2d",
        [2, 3, 7, 6],
        [5, 3, 3, 3],
        [2, 2, 5, 4],
        [3, 2, 3, 2],
        |x| x[0].conv2d(&x[1], Some(&x[2]), Conv2dOptions::default()),
    ));
    cases.push(conv(
        "conv2d_stride2_pad1",
        [1, 2, 9, 8],
        [17, 2, 3, 2],
        [1, 2, 5, 5],
        [2, 2, 3, 3],
        |x| {
            x[0].conv2d(
                &x[1],
                Some(&x[2]),
                Conv2dOptions {
                    stride: [2, 2],
                    padding: [1, 1],
                    dilation: [1, 1],
                },
            )
        },
    ));
    cases.push(conv(
        "conv2d_dilation2_same",
        [2, 1, 9, 9],
        [3, 1, 3, 3],
        [1, 1, 6, 6],
        [2, 1, 3, 3],
        |x| x[0].conv2d(&x[1], Some(&x[2]), Conv2dOptions::same([3, 3], [2, 2])?),
    ));
    cases.push(conv(
        "conv2d_1x1_many_channels",
        [1, 17, 5, 5],
        [3, 17, 1, 1],
        [1, 3, 2, 3],
        [2, 3, 1, 1],
        |x| x[0].conv2d(&x[1], Some(&x[2]), Conv2dOptions::valid([1, 2])),
    ));
    cases.push(conv(
        "conv2d_mnist_first_layer",
        [3, 1, 28, 28],
        [32, 1, 3, 3],
        [1, 1, 4, 4],
        [2, 1, 3, 3],
        |x| x[0].conv2d(&x[1], Some(&x[2]), Conv2dOptions::default()),
    ));
    // 3x3, stride 1, at least 8 channels in and out: the CPU path takes Winograd
    // F(2x2, 3x3) here, also in the gradient check; odd output sizes leave partial tiles.
    cases.push(conv(
        "conv2d_mnist_second_layer",
        [2, 32, 13, 13],
        [65, 32, 3, 3],
        [1, 8, 5, 6],
        [9, 8, 3, 3],
        |x| {
            x[0].conv2d(&x[1], None, Conv2dOptions::default())?
                .add(&x[2].reshape(&[x[2].numel(), 1, 1])?)
        },
    ));
    cases.push(conv(
        "conv2d_winograd_padding",
        [3, 9, 11, 8],
        [10, 9, 3, 3],
        [2, 8, 3, 4],
        [8, 8, 3, 3],
        |x| {
            let padding = Conv2dOptions {
                padding: [1, 2],
                ..Conv2dOptions::default()
            };
            x[0].conv2d(&x[1], Some(&x[2]), padding)
        },
    ));
    // conv2d with its activation in the same kernel: the im2col and the Winograd CPU paths.
    cases.push(conv(
        "conv2d_relu",
        [2, 3, 7, 6],
        [5, 3, 3, 3],
        [2, 2, 5, 4],
        [3, 2, 3, 2],
        |x| {
            let relu = epilogue(UnaryOp::Relu, 0.0)?;
            x[0].conv2d_with(&x[1], Some(&x[2]), Conv2dOptions::default(), relu)
        },
    ));
    cases.push(conv(
        "conv2d_tanh_stride2_pad1",
        [1, 2, 9, 8],
        [17, 2, 3, 2],
        [1, 2, 5, 5],
        [2, 2, 3, 3],
        |x| {
            let options = Conv2dOptions {
                stride: [2, 2],
                padding: [1, 1],
                dilation: [1, 1],
            };
            x[0].conv2d_with(&x[1], Some(&x[2]), options, epilogue(UnaryOp::Tanh, 0.0)?)
        },
    ));
    cases.push(conv(
        "conv2d_winograd_elu",
        [3, 9, 11, 8],
        [10, 9, 3, 3],
        [2, 8, 3, 4],
        [8, 8, 3, 3],
        |x| {
            let elu = epilogue(UnaryOp::Elu, 1.0)?;
            x[0].conv2d_with(&x[1], Some(&x[2]), Conv2dOptions::default(), elu)
        },
    ));
    // Pooling: non-overlapping, overlapping with padding, and odd sizes that leave a
    // remainder row and column.
    let pool = |name: &'static str, x: [usize; 4], small: [usize; 4], f| Case {
        name,
        domains: vec![ANY],
        shapes: vec![vec![x.to_vec()]],
        grad_shapes: vec![small.to_vec()],
        f,
        tol: 1e-5,
        differentiable: true,
    };
    cases.push(pool("max_pool2d", [3, 17, 7, 5], [2, 2, 4, 5], |x| {
        x[0].max_pool2d(Pool2dOptions::new([2, 2]))
    }));
    cases.push(pool(
        "max_pool2d_3x3_stride2_pad1",
        [2, 3, 17, 9],
        [1, 2, 5, 6],
        |x| {
            x[0].max_pool2d(
                Pool2dOptions::new([3, 3])
                    .with_stride([2, 2])
                    .with_padding([1, 1]),
            )
        },
    ));
    cases.push(pool("avg_pool2d", [3, 5, 65, 7], [2, 2, 4, 5], |x| {
        x[0].avg_pool2d(Pool2dOptions::new([2, 3]))
    }));
    cases.push(pool(
        "avg_pool2d_3x3_stride1_pad1",
        [1, 3, 17, 13],
        [1, 2, 4, 3],
        |x| {
            x[0].avg_pool2d(
                Pool2dOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1]),
            )
        },
    ));
    // Batch normalization: (input, gamma, beta) over (N, C) and (N, C, H, W), with batch
    // statistics and with given ones (inputs 3 and 4: mean and a positive variance).
    let norm = |name: &'static str, x: Vec<usize>, small: Vec<usize>, given: bool, f| {
        let (c, small_c) = (vec![x[1]], vec![small[1]]);
        let mut domains = vec![ANY, ANY, ANY];
        let mut shapes = vec![x.clone(), c.clone(), c.clone()];
        let mut grad_shapes = vec![small.clone(), small_c.clone(), small_c.clone()];
        if given {
            domains.extend([Domain::Constant(-2.0, 2.0), Domain::Constant(0.2, 3.0)]);
            shapes.extend([c.clone(), c]);
            grad_shapes.extend([small_c.clone(), small_c]);
        }
        Case {
            name,
            domains,
            shapes: vec![shapes],
            grad_shapes,
            f,
            tol: 2e-4,
            differentiable: true,
        }
    };
    cases.push(norm(
        "batch_norm_nc",
        vec![65, 17],
        vec![5, 3],
        false,
        |x| Ok(x[0].batch_norm(&x[1], &x[2], 1e-5)?.0),
    ));
    cases.push(norm(
        "batch_norm_nchw",
        vec![3, 5, 7, 9],
        vec![2, 3, 2, 3],
        false,
        |x| Ok(x[0].batch_norm(&x[1], &x[2], 1e-3)?.0),
    ));
    cases.push(norm(
        "batch_norm_with_stats",
        vec![3, 17, 5, 1],
        vec![2, 3, 2, 2],
        true,
        |x| x[0].batch_norm_with_stats(&x[3], &x[4], &x[1], &x[2], 1e-5),
    ));
    cases.push(Case {
        name: "batch_norm_statistics",
        domains: vec![ANY, ANY, ANY],
        shapes: vec![
            vec![vec![127, 3, 2, 5], vec![3], vec![3]],
            vec![vec![1, 17], vec![17], vec![17]],
        ],
        grad_shapes: vec![],
        f: |x| {
            let (_, mean, var) = x[0].batch_norm(&x[1], &x[2], 1e-5)?;
            mean.mul_scalar(1000.0)?.add(&var)
        },
        tol: 1e-4,
        differentiable: false,
    });
    cases.push(Case {
        name: "random_affine",
        domains: vec![ANY],
        shapes: vec![vec![vec![3, 2, 17, 13]], vec![vec![5, 1, 28, 28]]],
        grad_shapes: vec![],
        f: |x| x[0].random_affine(15.0, 3.0, 777),
        tol: 1e-4,
        differentiable: false,
    });
    cases.push(Case {
        name: "eq",
        domains: vec![Domain::Labels, Domain::Labels],
        shapes: vec![vec![vec![65, 3], vec![65, 3]], vec![vec![17, 3], vec![3]]],
        grad_shapes: vec![],
        f: |x| x[0].eq(&x[1]),
        tol: 0.0,
        differentiable: false,
    });
    cases.push(Case {
        name: "dropout",
        domains: vec![ANY],
        shapes: vec![vec![vec![1]], vec![vec![127, 65]], vec![vec![3, 5, 17]]],
        grad_shapes: vec![vec![5, 7]],
        f: |x| x[0].dropout(0.3, 12345),
        tol: 1e-5,
        differentiable: true,
    });
    cases.push(Case {
        name: "dropout_mask",
        domains: vec![ANY],
        shapes: vec![vec![vec![1]], vec![vec![127, 65]]],
        grad_shapes: vec![],
        f: |x| Tensor::dropout_mask(x[0].dims(), 0.3, 12345, x[0].device()),
        tol: 0.0,
        differentiable: false,
    });
    cases.push(Case {
        name: "gather_rows",
        domains: vec![ANY, Domain::Labels],
        shapes: vec![vec![vec![17, 5], vec![17]], vec![vec![127, 3], vec![127]]],
        grad_shapes: vec![],
        f: |x| x[0].gather_rows(&x[1].mul_scalar(0.0)?.add(&x[1])?, 1, x[1].numel() - 1),
        tol: 0.0,
        differentiable: false,
    });
    cases.push(Case {
        name: "argmax",
        domains: vec![ANY],
        shapes: vec![vec![vec![65, 127]], vec![vec![1, 3]], vec![vec![5, 3, 17]]],
        grad_shapes: vec![],
        f: |x| x[0].argmax(1, false),
        tol: 0.0,
        differentiable: false,
    });
    // More output channels than one 64-row tile: the bias gradient comes from two rows
    // of workgroups. (Last, so that the cases before keep their sampling seeds.)
    cases.push(conv(
        "conv2d_relu_70_channels",
        [3, 2, 6, 5],
        [70, 2, 3, 3],
        [1, 1, 4, 4],
        [2, 1, 3, 3],
        |x| {
            let relu = epilogue(UnaryOp::Relu, 0.0)?;
            x[0].conv2d_with(&x[1], Some(&x[2]), Conv2dOptions::default(), relu)
        },
    ));
    // Pooling with the dropout that follows it in the same kernels (last, as above).
    cases.push(pool(
        "max_pool2d_dropout",
        [3, 17, 7, 5],
        [2, 2, 4, 5],
        |x| x[0].max_pool2d_dropout(Pool2dOptions::new([2, 2]), 0.4, 99),
    ));
    cases.push(pool(
        "avg_pool2d_dropout_3x3_stride2_pad1",
        [3, 5, 65, 7],
        [2, 2, 4, 5],
        |x| {
            let opts = Pool2dOptions::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1]);
            x[0].avg_pool2d_dropout(opts, 0.25, 5)
        },
    ));
    // A loss plus a penalty in one dispatch, one and two reduction stages.
    cases.push(Case {
        name: "plus_l1_l2_penalty",
        domains: vec![ANY, NONZERO],
        shapes: vec![vec![vec![], vec![3, 17]], vec![vec![1], vec![129, 131]]],
        grad_shapes: vec![vec![], vec![3, 4]],
        f: |x| x[0].plus_l1_l2_penalty(&x[1], 0.2, 0.6),
        tol: 1e-4,
        differentiable: true,
    });
    // A dense layer with its activation and a dropout in one kernel (last, as above).
    cases.push(linear("linear_relu_dropout", |x| {
        x[0].linear_dropout(&x[1], Some(&x[2]), epilogue(UnaryOp::Relu, 0.0)?, 0.3, 17)
    }));
    cases.push(linear("linear_no_bias_sigmoid_dropout", |x| {
        x[0].linear_dropout(&x[1], None, epilogue(UnaryOp::Sigmoid, 0.0)?, 0.5, 3)
    }));
    // Plain 2x2 max pooling over even sides, whose CPU twin runs vector blocks of 8
    // windows (the last overlapping its neighbour: 13 and 9 windows a row) and writes the
    // gradient without a scatter.
    cases.push(pool(
        "max_pool2d_even_sides",
        [2, 3, 10, 26],
        [1, 2, 4, 18],
        |x| x[0].max_pool2d(Pool2dOptions::new([2, 2])),
    ));
    cases.push(pool(
        "max_pool2d_dropout_even_sides",
        [2, 3, 10, 26],
        [1, 2, 4, 18],
        |x| x[0].max_pool2d_dropout(Pool2dOptions::new([2, 2]), 0.3, 41),
    ));
    // Winograd's CPU backward gates dy by ReLU' image by image and sums the bias gradient
    // as it reads it (padding 1: the gated planes land inside a zero border).
    cases.push(conv(
        "conv2d_winograd_relu_pad1",
        [3, 9, 11, 8],
        [10, 9, 3, 3],
        [2, 8, 3, 4],
        [8, 8, 3, 3],
        |x| {
            let relu = epilogue(UnaryOp::Relu, 0.0)?;
            let padding = Conv2dOptions::same([3, 3], [1, 1])?;
            x[0].conv2d_with(&x[1], Some(&x[2]), padding, relu)
        },
    ));
    // SiLU and GELU epilogues, which keep their pre-activation for backward: a dense
    // layer on every kernel (the large-tile one too), one with the dropout after it, and
    // convolutions on the im2col and the Winograd CPU paths (last, as above).
    cases.push(linear("linear_silu", |x| {
        x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Silu, 0.0)?)
    }));
    cases.push(linear("linear_no_bias_gelu_dropout", |x| {
        x[0].linear_dropout(&x[1], None, epilogue(UnaryOp::Gelu, 0.0)?, 0.4, 23)
    }));
    cases.push(conv(
        "conv2d_gelu_stride2_pad1",
        [1, 2, 9, 8],
        [17, 2, 3, 2],
        [1, 2, 5, 5],
        [2, 2, 3, 3],
        |x| {
            let options = Conv2dOptions {
                stride: [2, 2],
                padding: [1, 1],
                dilation: [1, 1],
            };
            x[0].conv2d_with(&x[1], Some(&x[2]), options, epilogue(UnaryOp::Gelu, 0.0)?)
        },
    ));
    cases.push(conv(
        "conv2d_winograd_silu_pad1",
        [3, 9, 11, 8],
        [10, 9, 3, 3],
        [2, 8, 3, 4],
        [8, 8, 3, 3],
        |x| {
            let silu = epilogue(UnaryOp::Silu, 0.0)?;
            let padding = Conv2dOptions::same([3, 3], [1, 1])?;
            x[0].conv2d_with(&x[1], Some(&x[2]), padding, silu)
        },
    ));
    // Products whose k is longer than one workgroup sums over (16,384): split over
    // workgroups and added in a second pass that also finishes them (lavapipe's loop
    // limiter truncated such sums, silently): plain, a dense layer with bias, ReLU and
    // dropout, and one whose weight gradient (k = the batch) splits with its row sums
    // and its gate (last, as above).
    cases.push(long_sum(
        "matmul_k_beyond_a_workgroup",
        vec![vec![3, 70001], vec![70001, 5]],
        vec![vec![2, 5], vec![5, 3]],
        |x| x[0].matmul(&x[1]),
    ));
    cases.push(long_sum(
        "linear_dropout_k_beyond_a_workgroup",
        vec![vec![6, 40003], vec![7, 40003], vec![7]],
        vec![vec![2, 5], vec![3, 5], vec![3]],
        |x| x[0].linear_dropout(&x[1], Some(&x[2]), epilogue(UnaryOp::Relu, 0.0)?, 0.3, 5),
    ));
    cases.push(long_sum(
        "linear_batch_beyond_a_workgroup",
        vec![vec![40003, 3], vec![2, 3], vec![2]],
        vec![vec![5, 3], vec![2, 3], vec![2]],
        |x| x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Tanh, 0.0)?),
    ));
    // Convolutions whose forward (C·KH·KW) or input gradient (O·KH·KW) sums more terms
    // than one workgroup does: split, the sum pass adds the slabs and, forward, applies
    // the bias, the activation and keeps the pre-activation (GELU) (last, as above).
    cases.push(long_conv(
        "conv2d_gelu_1900_channels_in",
        [[2, 1900, 4, 3], [3, 1900, 3, 3]],
        [[1, 2, 4, 3], [2, 2, 3, 3]],
        |x| {
            let gelu = epilogue(UnaryOp::Gelu, 0.0)?;
            x[0].conv2d_with(&x[1], Some(&x[2]), Conv2dOptions::default(), gelu)
        },
    ));
    cases.push(long_conv(
        "conv2d_1900_channels_out",
        [[2, 2, 4, 3], [1900, 2, 3, 3]],
        [[1, 2, 4, 3], [3, 2, 3, 3]],
        |x| x[0].conv2d(&x[1], Some(&x[2]), Conv2dOptions::default()),
    ));
    // Last, as above.
    cases.extend(heavy());
    cases
}

/// Products that a layout for a large GPU (`GpuOptions::occupancy`, 256 on hardware)
/// runs on other kernels than a software adapter's default does: few outputs with a long
/// k (over 10 MFLOP, fewer than 256 workgroups of 64x64 tiles). The GPU-vs-CPU test runs
/// them under both layouts.
pub fn heavy() -> Vec<Case> {
    let mut cases = Vec::new();
    // Products of few outputs and a long k (over 10 MFLOP, fewer than 256 workgroups of
    // 64x64 tiles), which run on the small-tile kernel: plain, both operands transposed,
    // and a dense layer whose gradient products also split.
    cases.push(long_sum(
        "matmul_long_k",
        vec![vec![37, 4099], vec![4099, 45]],
        vec![vec![3, 7], vec![7, 2]],
        |x| x[0].matmul(&x[1]),
    ));
    cases.push(long_sum(
        "matmul_long_k_ta_tb",
        vec![vec![4099, 37], vec![45, 4099]],
        vec![vec![7, 3], vec![2, 7]],
        |x| x[0].matmul_t(&x[1], true, true),
    ));
    cases.push(long_sum(
        "linear_long_k_relu",
        vec![vec![37, 4099], vec![45, 4099], vec![45]],
        vec![vec![3, 7], vec![2, 7], vec![2]],
        |x| x[0].linear(&x[1], Some(&x[2]), epilogue(UnaryOp::Relu, 0.0)?),
    ));
    // Weight gradients over 10 MFLOP on a single 64x64 tile, whose K (images x positions)
    // is split over workgroups and summed in a second pass: with the bias gradient's
    // partial sums, and without a bias.
    let split_conv = |name, f| {
        let shapes = [[13, 3, 71, 67], [7, 3, 3, 3]];
        long_conv(name, shapes, [[2, 2, 5, 4], [3, 2, 3, 2]], f)
    };
    cases.push(split_conv("conv2d_relu_split_weight_gradient", |x| {
        let relu = epilogue(UnaryOp::Relu, 0.0)?;
        x[0].conv2d_with(&x[1], Some(&x[2]), Conv2dOptions::default(), relu)
    }));
    cases.push(split_conv("conv2d_no_bias_split_weight_gradient", |x| {
        x[0].conv2d(&x[1], None, Conv2dOptions::default())
    }));
    cases
}

/// The product variants the tuner chooses among (`GpuContext::tuning_records` names),
/// forced as op `"matmul"` over the cases named `matmul*` and `linear*`.
pub const PRODUCT_VARIANTS: [&str; 8] = [
    "matmul",
    "matmul_vec4",
    "matmul_large",
    "matmul_split 16x16",
    "matmul_split 8x16",
    "matmul_split 8x8",
    "matmul_split 4x8",
    "matmul_split 4x4",
];

/// The convolution tiles, forced as op `"conv2d"` over the cases named `conv2d*`.
pub const CONV_TILES: [&str; 4] = ["conv2d", "conv2d_large", "conv2d_large_64", "conv2d_wide"];

/// The cases (name prefixes) whose kernels reduce within a workgroup.
pub const REDUCING_CASES: [&str; 9] = [
    "sum",
    "mean",
    "l1_l2_penalty",
    "l2_penalty_two_stage",
    "plus_l1_l2_penalty",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "batch_norm",
];

/// The reduction variants `gpu` runs, forced as op `"reduction"`: a tree at 64, 128 and
/// 256 threads, and subgroups at each where the adapter has SUBGROUP.
pub fn reduction_variants(gpu: &wgnn::Device) -> Vec<String> {
    let subgroups = gpu
        .gpu_context()
        .is_some_and(|c| c.features().contains(wgnn::wgpu::Features::SUBGROUP));
    let ways: &[&str] = if subgroups {
        &["tree", "subgroups"]
    } else {
        &["tree"]
    };
    ways.iter()
        .flat_map(|way| [64, 128, 256].map(|threads| format!("{way}{threads}")))
        .collect()
}
