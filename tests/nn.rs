//! Layers: shapes, names, modes, dropout statistics, penalties, and a residual block.

mod common;

use common::gpu;
use wgnn::nn::*;
use wgnn::{Device, Tensor};

fn devices() -> Vec<Device> {
    let mut d = vec![Device::Cpu];
    d.extend(gpu());
    d
}

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
    assert!(Regularizer {
        l1: f32::NAN,
        l2: 0.0
    }
    .penalty(&x)
    .is_ok());
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
