//! Layers: shapes, names, modes, dropout statistics, penalties, and a residual block.

mod common;

use common::devices;
use wgnn::device::GpuOptions;
use wgnn::nn::*;
use wgnn::{Device, Tensor};

#[test]
fn sequential_names_parameters_like_pytorch_and_runs_forward() {
    for d in devices() {
        manual_seed(3);
        let model = Sequential::new()
            .add(Linear::new(5, 4, &d).unwrap())
            .add(Activation::relu())
            .add(Linear::with_init(4, 3, Init::HeNormal, false, &d).unwrap());
        let names: Vec<String> = model
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["0.weight", "0.bias", "2.weight"]);
        let y = model.forward(&Tensor::ones(&[7, 5], &d).unwrap()).unwrap();
        assert_eq!(y.dims(), &[7, 3]);
        assert!(model.forward(&Tensor::ones(&[7, 6], &d).unwrap()).is_err());
        assert!(model.parameters().iter().all(|p| p.requires_grad()));
    }
}

#[test]
fn the_same_seed_builds_the_same_model_on_every_device() {
    let mut weights = Vec::new();
    for d in devices() {
        manual_seed(9);
        let layer = Linear::new(6, 5, &d).unwrap();
        weights.push(layer.weight().to_vec().unwrap());
    }
    assert!(weights.windows(2).all(|w| w[0] == w[1]));
    // Glorot-uniform bound √(6/11).
    assert!(weights[0].iter().all(|w| w.abs() <= (6.0f32 / 11.0).sqrt()));
}

#[test]
fn dropout_drops_about_p_scales_the_rest_and_is_the_identity_in_eval() {
    for d in devices() {
        let drop = Dropout::new(0.25).unwrap();
        let x = Tensor::ones(&[100, 100], &d).unwrap();
        let y = drop.forward(&x).unwrap().to_vec().unwrap();
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
        assert!((zeros - 0.25).abs() < 0.02, "dropped {zeros} on {d}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        // A second call draws a different mask.
        let y2 = drop.forward(&x).unwrap().to_vec().unwrap();
        assert_ne!(y, y2);
        drop.set_training(false);
        assert_eq!(
            drop.forward(&x).unwrap().to_vec().unwrap(),
            vec![1.0; 10_000]
        );
    }
    assert!(Dropout::new(1.0).is_err());
    assert!(Dropout::new(-0.1).is_err());
}

#[test]
fn dropout_applies_and_differentiates_through_the_mask_of_its_seed() {
    for d in devices() {
        let x = Tensor::uniform(&[37, 29], -1.0, 1.0, 3, &d)
            .unwrap()
            .requires_grad_();
        let mask = Tensor::dropout_mask(x.dims(), 0.4, 77, &d).unwrap();
        let y = x.dropout(0.4, 77).unwrap();
        assert_eq!(
            y.to_vec().unwrap(),
            x.mul(&mask).unwrap().to_vec().unwrap(),
            "{d}"
        );
        let w = Tensor::uniform(x.dims(), -1.0, 1.0, 4, &d).unwrap();
        y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        assert_eq!(
            x.grad().unwrap().to_vec().unwrap(),
            w.mul(&mask).unwrap().to_vec().unwrap(),
            "{d}: the gradient passes where the mask kept"
        );
        assert!(x.dropout(1.0, 1).is_err());
    }
}

#[test]
fn penalties_follow_their_formulas() {
    let d = Device::Cpu;
    let layer = Linear::new(2, 2, &d)
        .unwrap()
        .with_weight_regularizer(Regularizer { l1: 0.5, l2: 0.25 })
        .unwrap();
    let w = layer.weight().to_vec().unwrap();
    let want: f32 = w.iter().map(|v| 0.5 * v.abs() + 0.25 * v * v).sum();
    let got = layer.penalty().unwrap().unwrap().item().unwrap();
    assert!((got - want).abs() < 1e-6);
    let act = ActivityRegularization::new(Regularizer::l2(0.1)).unwrap();
    let x = Tensor::from_vec(vec![1.0, -2.0, 3.0, 0.5], &[2, 2], &d).unwrap();
    assert_eq!(
        act.forward(&x).unwrap().to_vec().unwrap(),
        x.to_vec().unwrap()
    );
    // Averaged over the batch of 2 by default; summed over it with summed().
    let p = act.penalty().unwrap().unwrap().item().unwrap();
    assert!((p - 0.1 * 14.25 / 2.0).abs() < 1e-5, "penalty {p}");
    let summed = ActivityRegularization::new(Regularizer::l2(0.1))
        .unwrap()
        .summed();
    summed.forward(&x).unwrap();
    let p = summed.penalty().unwrap().unwrap().item().unwrap();
    assert!((p - 0.1 * 14.25).abs() < 1e-5, "summed penalty {p}");
    assert!(act.penalty().unwrap().is_none(), "a penalty is taken once");
    act.set_training(false);
    act.forward(&x).unwrap();
    assert!(act.penalty().unwrap().is_none(), "no penalty in evaluation");
    // A regularizer built by hand with a NaN weight is refused when it is applied.
    assert!(Regularizer {
        l1: f32::NAN,
        l2: 0.0
    }
    .penalty(&x)
    .is_err());
    assert!(Linear::new(2, 2, &d)
        .unwrap()
        .with_weight_regularizer(Regularizer::l1(-1.0))
        .is_err());
}

#[test]
fn residual_adds_its_input_and_flatten_keeps_the_batch() {
    for d in devices() {
        let block = Residual(Activation::relu());
        let x = Tensor::from_vec(vec![-1.0, 2.0], &[1, 2], &d).unwrap();
        assert_eq!(
            block.forward(&x).unwrap().to_vec().unwrap(),
            vec![-1.0, 4.0]
        );
        let bad = Residual(Linear::new(2, 3, &d).unwrap());
        assert!(bad.forward(&x).is_err());
        let t = Tensor::zeros(&[4, 1, 3, 2], &d).unwrap();
        assert_eq!(Flatten.forward(&t).unwrap().dims(), &[4, 6]);
    }
}

#[test]
fn the_course_cnn_has_keras_shapes_and_names() {
    for d in devices() {
        manual_seed(5);
        let model = Sequential::new()
            .add(Conv2d::new(1, 4, [3, 3], &d).unwrap())
            .add(Activation::relu())
            .add(Conv2d::new(4, 6, [3, 3], &d).unwrap())
            .add(MaxPool2d::new([2, 2]))
            .add(BatchNorm2d::new(6, &d).unwrap())
            .add(Flatten)
            .add(Linear::new(6 * 12 * 12, 10, &d).unwrap());
        let x = Tensor::uniform(&[3, 1, 28, 28], 0.0, 1.0, 1, &d).unwrap();
        assert_eq!(model.forward(&x).unwrap().dims(), &[3, 10]);
        let names: Vec<String> = model
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight",
                "6.bias"
            ]
        );
        let buffers: Vec<String> = model.named_buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(buffers, ["4.running_mean", "4.running_var"]);
        assert_eq!(model.parameters()[0].dims(), &[4, 1, 3, 3]);
    }
}

#[test]
fn conv2d_same_padding_keeps_the_size_and_he_init_has_the_right_spread() {
    for d in devices() {
        let conv = Conv2d::new(8, 16, [3, 3], &d)
            .unwrap()
            .with_same_padding()
            .unwrap();
        let y = conv
            .forward(&Tensor::ones(&[2, 8, 9, 7], &d).unwrap())
            .unwrap();
        assert_eq!(y.dims(), &[2, 16, 9, 7]);
        // He-uniform: U(±√(6/fan_in)), fan_in = 8·3·3; its variance is 2/fan_in.
        let w = conv.weight().to_vec().unwrap();
        let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
        assert!(
            (var - 2.0 / 72.0).abs() < 0.1 * 2.0 / 72.0,
            "variance {var}"
        );
        assert!(Conv2d::new(0, 1, [3, 3], &d).is_err());
        assert!(Conv2d::new(1, 1, [2, 2], &d)
            .unwrap()
            .with_same_padding()
            .is_err());
    }
}

#[test]
fn batch_norm_normalizes_in_training_and_uses_running_statistics_in_eval() {
    for d in devices() {
        let bn = BatchNorm1d::new(3, &d).unwrap();
        // Channel j has mean 10·j + 1 and (biased) variance 4.
        let rows: Vec<f32> = (0..4)
            .flat_map(|i| {
                (0..3).map(move |j| 10.0 * j as f32 + 1.0 + if i % 2 == 0 { 2.0 } else { -2.0 })
            })
            .collect();
        let x = Tensor::from_vec(rows, &[4, 3], &d).unwrap();
        let y = bn.forward(&x).unwrap().to_vec().unwrap();
        for (i, v) in y.iter().enumerate() {
            let want = if (i / 3) % 2 == 0 { 1.0 } else { -1.0 } / (1.0f32 + 1e-5 / 4.0).sqrt();
            assert!((v - want).abs() < 1e-4, "y[{i}] = {v}, want {want}");
        }
        // Running statistics after one step, momentum 0.1: mean 0.1·batch mean, variance
        // 0.9 + 0.1·(unbiased 16/3).
        let mean = bn.running_mean().to_vec().unwrap();
        let var = bn.running_var().to_vec().unwrap();
        for j in 0..3 {
            assert!((mean[j] - 0.1 * (10.0 * j as f32 + 1.0)).abs() < 1e-5);
            assert!((var[j] - (0.9 + 0.1 * 16.0 / 3.0)).abs() < 1e-5);
        }
        bn.set_training(false);
        let eval = bn.forward(&x).unwrap().to_vec().unwrap();
        let first = (x.to_vec().unwrap()[0] - mean[0]) / (var[0] + 1e-5).sqrt();
        assert!((eval[0] - first).abs() < 1e-4);
        assert!(bn.forward(&Tensor::ones(&[2, 4], &d).unwrap()).is_err());
        assert!(BatchNorm2d::new(3, &d).unwrap().forward(&x).is_err());
    }
}

#[test]
fn random_affine_is_the_identity_at_zero_and_in_eval_and_moves_images_otherwise() {
    for d in devices() {
        let x = Tensor::uniform(&[4, 2, 11, 9], 0.0, 1.0, 3, &d).unwrap();
        let same = x.random_affine(0.0, 0.0, 9).unwrap();
        assert_eq!(same.to_vec().unwrap(), x.to_vec().unwrap());
        let layer = RandomAffine::new(20.0, 2.0).unwrap();
        let moved = layer.forward(&x).unwrap().to_vec().unwrap();
        assert_ne!(moved, x.to_vec().unwrap());
        // Two calls draw different transforms.
        assert_ne!(layer.forward(&x).unwrap().to_vec().unwrap(), moved);
        layer.set_training(false);
        assert_eq!(
            layer.forward(&x).unwrap().to_vec().unwrap(),
            x.to_vec().unwrap()
        );
        assert!(RandomAffine::new(200.0, 1.0).is_err());
        assert!(RandomAffine::new(10.0, f32::NAN).is_err());
    }
}

#[test]
fn a_pure_shift_keeps_a_bright_pixels_mass_and_moves_it_within_the_bound() {
    for d in devices() {
        // One bright pixel in the centre of a 9x9 image; rotations off, shifts up to 3:
        // the bright spot's centre of mass moves by the drawn shift, its mass stays 1.
        let mut image = vec![0.0f32; 81];
        image[4 * 9 + 4] = 1.0;
        let x = Tensor::from_vec(image, &[1, 1, 9, 9], &d).unwrap();
        let y = x.random_affine(0.0, 3.0, 21).unwrap().to_vec().unwrap();
        let mass: f32 = y.iter().sum();
        assert!((mass - 1.0).abs() < 1e-5, "mass {mass}");
        let cx: f32 = y.iter().enumerate().map(|(i, v)| (i % 9) as f32 * v).sum();
        let cy: f32 = y.iter().enumerate().map(|(i, v)| (i / 9) as f32 * v).sum();
        assert!((cx - 4.0).abs() <= 3.0 && (cy - 4.0).abs() <= 3.0);
        assert!((cx - 4.0).abs() + (cy - 4.0).abs() > 0.01, "did not move");
    }
}

/// Runs `layers` one by one (no fusion), as a user's own loop would.
fn layer_by_layer(layers: &[Box<dyn Module>], x: &Tensor) -> Tensor {
    layers
        .iter()
        .fold(x.clone(), |y, layer| layer.forward(&y).unwrap())
}

/// The model's output and its parameters' gradients for a fixed objective Σ w·y.
/// Every run starts the model's random streams (dropout) from the same state.
fn output_and_grads(model: &Sequential, x: &Tensor, fused: bool) -> Vec<Vec<f32>> {
    model.parameters().iter().for_each(|p| p.zero_grad());
    for (_, stream) in model.named_seed_streams() {
        stream.set_state([19, 0]);
    }
    let y = if fused {
        model.forward(x).unwrap()
    } else {
        layer_by_layer(model.layers(), x)
    };
    let w = Tensor::uniform(y.dims(), -1.0, 1.0, 5, x.device()).unwrap();
    y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
    let mut out = vec![y.to_vec().unwrap()];
    out.extend(
        model
            .parameters()
            .iter()
            .map(|p| p.grad().unwrap().to_vec().unwrap()),
    );
    out
}

#[test]
fn sequential_fuses_each_layer_with_its_activation_and_computes_the_same() {
    // A GPU device of its own: the dispatch counts below must not see other tests' work.
    let private_gpu = common::gpu().map(|_| Device::gpu_with(&GpuOptions::default()).unwrap());
    for d in std::iter::once(Device::Cpu).chain(private_gpu) {
        manual_seed(11);
        let model = Sequential::new()
            .add(Conv2d::new(2, 3, [3, 3], &d).unwrap())
            .add(Activation::relu())
            .add(MaxPool2d::new([2, 2]))
            .add(Dropout::new(0.3).unwrap())
            .add(Flatten)
            .add(Linear::new(3 * 2 * 2, 9, &d).unwrap())
            .add(Activation(ActivationKind::Elu(0.5)))
            .add(Dropout::new(0.2).unwrap())
            .add(Linear::new(9, 6, &d).unwrap())
            .add(Activation::tanh())
            .add(Linear::new(6, 5, &d).unwrap())
            .add(Activation(ActivationKind::Gelu)) // an epilogue that keeps its input
            .add(Linear::new(5, 4, &d).unwrap())
            .add(Activation(ActivationKind::LeakyRelu(0.0))); // slope 0: no epilogue
        let x = Tensor::uniform(&[3, 2, 7, 6], -1.0, 1.0, 4, &d).unwrap();
        let dispatches = || d.gpu_context().map(|c| c.stats().dispatches);
        let before = dispatches();
        let fused = output_and_grads(&model, &x, true);
        let between = dispatches();
        let separate = output_and_grads(&model, &x, false);
        let after = dispatches();
        for (f, s) in fused.iter().zip(&separate) {
            for (a, b) in f.iter().zip(s) {
                assert!(
                    (a - b).abs() <= 1e-5 + 1e-5 * b.abs(),
                    "{d}: fused {a}, separate {b}"
                );
            }
        }
        if let (Some(before), Some(between), Some(after)) = (before, between, after) {
            // Four fused pairs, each saving its activation's dispatch (a Linear adds its
            // bias in its own kernel either way); backward, each fused layer reads its
            // activation's derivative inside its gradient products, saving one more. The
            // pooling and the first Linear apply the dropout after them in their own
            // kernels, saving one dispatch each way each.
            let (fused, separate) = (between - before, after - between);
            assert_eq!(
                separate - fused,
                12,
                "{d}: {fused} fused, {separate} separate"
            );
        }
    }
}

#[test]
fn an_epilogue_is_an_elementwise_activation_with_a_parameter_its_backward_can_use() {
    use wgnn::ops::{Epilogue, UnaryOp};
    for op in Epilogue::OPS {
        let e = Epilogue::new(op, 0.2).unwrap();
        // Only the two that are not one-to-one need their input kept.
        let saves_input = matches!(op, UnaryOp::Silu | UnaryOp::Gelu);
        assert_eq!(e.saves_input(), saves_input, "{op:?}");
    }
    for (op, alpha) in [
        (UnaryOp::Exp, 0.0),
        (UnaryOp::AddScalar, 1.0),
        (UnaryOp::LeakyRelu, 0.0),
        (UnaryOp::Elu, -1.0),
        (UnaryOp::Elu, f32::NAN),
    ] {
        let e = Epilogue::new(op, alpha).unwrap_err().to_string();
        assert!(e.contains(&format!("{op:?}")), "{e}");
    }
}

#[test]
fn a_silu_or_gelu_layer_keeps_its_pre_activation_only_while_gradients_are_recorded() {
    // A GPU device of its own, so that the buffer counts see only this test's work.
    if common::gpu().is_none() {
        return;
    }
    let d = Device::gpu_with(&GpuOptions::default()).unwrap();
    let allocations = || {
        let stats = d.gpu_context().unwrap().stats();
        stats.buffers_created + stats.buffers_reused
    };
    let dense = Sequential::new()
        .add(Linear::new(6, 5, &d).unwrap())
        .add(Activation(ActivationKind::Silu));
    let conv = Sequential::new()
        .add(Conv2d::new(3, 4, [3, 3], &d).unwrap())
        .add(Activation(ActivationKind::Gelu));
    let relu = Sequential::new()
        .add(Linear::new(6, 5, &d).unwrap())
        .add(Activation::relu());
    let cases = [
        (dense, Tensor::ones(&[4, 6], &d).unwrap(), 1),
        (conv, Tensor::ones(&[2, 3, 6, 6], &d).unwrap(), 1),
        (relu, Tensor::ones(&[4, 6], &d).unwrap(), 0),
    ];
    for (model, x, kept) in cases {
        // Once each way first: the autotuner's first meeting with a shape allocates
        // scratch outputs to time its variants on.
        wgnn::no_grad(|| model.forward(&x).unwrap().to_vec().unwrap());
        model.forward(&x).unwrap().to_vec().unwrap();
        let counted = |f: &dyn Fn() -> Tensor| {
            let before = allocations();
            let y = f();
            (allocations() - before, y.to_vec().unwrap())
        };
        let (evaluating, y_eval) = counted(&|| wgnn::no_grad(|| model.forward(&x).unwrap()));
        let (training, y_train) = counted(&|| model.forward(&x).unwrap());
        assert_eq!(training - evaluating, kept, "{}", model.describe());
        assert_eq!(y_eval, y_train, "{}", model.describe());
    }
}

#[test]
fn an_activity_penalty_gradient_is_the_same_absorbed_by_its_layer_or_computed_apart() {
    // Linear + ReLU (+ dropout) + activity L1/L2, as the course MLP's first layer, and the
    // same with SiLU, whose layer keeps its pre-activation (the GPU then makes the
    // penalized output again from it). With backward's seed the dense layer computes the
    // penalty's gradient inside its own gradient products; with a seed of 2 it is
    // computed in a pass of its own. Both must agree, with each other (a factor 2) and
    // with the CPU.
    let grads = |d: &Device, kind: ActivationKind, seed: f32| {
        manual_seed(8);
        let model = Sequential::new()
            .add(Linear::new(5, 7, d).unwrap())
            .add(Activation(kind))
            .add(Dropout::new(0.2).unwrap())
            .add(ActivityRegularization::new(Regularizer { l1: 0.05, l2: 0.3 }).unwrap())
            .add(Linear::new(7, 3, d).unwrap());
        let x = Tensor::uniform(&[6, 5], -1.0, 1.0, 2, d).unwrap();
        let labels = Tensor::from_vec(vec![0.0, 1.0, 2.0, 1.0, 0.0, 2.0], &[6], d).unwrap();
        let mut objective = model.forward(&x).unwrap().cross_entropy(&labels).unwrap();
        for term in model.penalty_terms().unwrap() {
            objective = term.added_to(&objective).unwrap();
        }
        if seed == 1.0 {
            objective.backward().unwrap();
        } else {
            let seed = Tensor::full(&[], seed, d).unwrap();
            objective.backward_with(&seed).unwrap();
        }
        model
            .parameters()
            .iter()
            .flat_map(|p| p.grad().unwrap().to_vec().unwrap())
            .collect::<Vec<f32>>()
    };
    for kind in [ActivationKind::Relu, ActivationKind::Silu] {
        let want = grads(&Device::Cpu, kind, 1.0);
        for d in devices() {
            let once = grads(&d, kind, 1.0);
            let twice = grads(&d, kind, 2.0);
            for ((a, b), w) in once.iter().zip(&twice).zip(&want) {
                assert!(
                    (a - w).abs() <= 1e-5 + 1e-4 * w.abs(),
                    "{d}, {kind:?}: {a} vs CPU {w}"
                );
                assert!(
                    (2.0 * a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                    "{d}, {kind:?}: {a}, doubled {b}"
                );
            }
        }
    }
}
