//! The reverse-mode tape: shared subexpressions, reuse, no_grad, detach, repeated steps,
//! and the errors it gives for misuse. Runs on the CPU and, when present, the GPU.

mod common;

use common::{devices, gpu};
use wgnn::{no_grad, Device, Error, Tensor};

fn vec_of(t: &Tensor) -> Vec<f32> {
    t.to_vec().unwrap()
}

#[test]
fn a_tensor_used_twice_receives_the_sum() {
    for d in devices() {
        let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3], &d)
            .unwrap()
            .requires_grad_();
        // y = x·x + x  →  dy/dx = 2x + 1
        let y = x.mul(&x).unwrap().add(&x).unwrap().sum().unwrap();
        y.backward().unwrap();
        assert_eq!(vec_of(&x.grad().unwrap()), vec![3.0, -3.0, 7.0], "{d}");
    }
}

#[test]
fn a_shared_subexpression_is_backpropagated_once_with_both_contributions() {
    for d in devices() {
        let x = Tensor::from_vec(vec![0.5, 2.0], &[2], &d)
            .unwrap()
            .requires_grad_();
        // s is shared: L = Σ s·s + Σ 3s, so dL/dx = (2s + 3)·s.
        let s = x.exp().unwrap();
        let l = s
            .mul(&s)
            .unwrap()
            .sum()
            .unwrap()
            .add(&s.mul_scalar(3.0).unwrap().sum().unwrap())
            .unwrap();
        l.backward().unwrap();
        let got = vec_of(&x.grad().unwrap());
        for (g, xv) in got.iter().zip([0.5f32, 2.0]) {
            let s = xv.exp();
            assert!(
                (g - (2.0 * s + 3.0) * s).abs() < 1e-3 * (1.0 + g.abs()),
                "{d}: {g}"
            );
        }
    }
}

#[test]
fn gradients_accumulate_until_zero_grad() {
    for d in devices() {
        let w = Tensor::from_vec(vec![1.0, 2.0], &[2], &d)
            .unwrap()
            .requires_grad_();
        for _ in 0..2 {
            w.mul_scalar(5.0)
                .unwrap()
                .sum()
                .unwrap()
                .backward()
                .unwrap();
        }
        assert_eq!(vec_of(&w.grad().unwrap()), vec![10.0, 10.0], "{d}");
        w.zero_grad();
        assert!(w.grad().is_none());
        // A second step records afresh and gives the same gradient.
        w.mul_scalar(5.0)
            .unwrap()
            .sum()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(vec_of(&w.grad().unwrap()), vec![5.0, 5.0], "{d}");
    }
}

#[test]
fn no_grad_and_detach_record_nothing() {
    for d in devices() {
        let x = Tensor::ones(&[2, 2], &d).unwrap().requires_grad_();
        let y = no_grad(|| x.mul_scalar(2.0).unwrap());
        assert!(!y.requires_grad());
        assert!(!x.detach().requires_grad());
        assert!(matches!(
            y.sum().unwrap().backward(),
            Err(Error::Autograd(_))
        ));
        // Only the non-detached path contributes.
        let l = x.mul(&x.detach()).unwrap().sum().unwrap();
        l.backward().unwrap();
        assert_eq!(vec_of(&x.grad().unwrap()), vec![1.0; 4], "{d}");
    }
}

#[test]
fn backward_twice_through_one_graph_is_an_error_not_a_panic() {
    for d in devices() {
        let x = Tensor::ones(&[3], &d).unwrap().requires_grad_();
        let l = x.exp().unwrap().sum().unwrap();
        l.backward().unwrap();
        match l.backward() {
            Err(Error::Autograd(msg)) => assert!(msg.contains("second time"), "{msg}"),
            other => panic!("expected an autograd error, got {other:?}"),
        }
    }
}

#[test]
fn backward_needs_a_scalar_or_a_matching_gradient() {
    let x = Tensor::ones(&[3], &Device::Cpu).unwrap().requires_grad_();
    let y = x.mul_scalar(2.0).unwrap();
    assert!(matches!(y.backward(), Err(Error::ShapeMismatch { .. })));
    let wrong = Tensor::ones(&[4], &Device::Cpu).unwrap();
    assert!(matches!(
        y.backward_with(&wrong),
        Err(Error::ShapeMismatch { .. })
    ));
    y.backward_with(&Tensor::ones(&[3], &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(vec_of(&x.grad().unwrap()), vec![2.0; 3]);
}

#[test]
fn a_small_mlp_step_matches_between_devices() {
    let Some(g) = gpu() else { return };
    let run = |d: &Device| {
        let x = Tensor::uniform(&[5, 7], -1.0, 1.0, 1, d).unwrap();
        let labels = Tensor::from_vec(vec![0.0, 2.0, 1.0, 2.0, 0.0], &[5], d).unwrap();
        let w1 = Tensor::normal(&[7, 4], 0.0, 0.5, 2, d)
            .unwrap()
            .requires_grad_();
        let b1 = Tensor::zeros(&[4], d).unwrap().requires_grad_();
        let w2 = Tensor::normal(&[4, 3], 0.0, 0.5, 3, d)
            .unwrap()
            .requires_grad_();
        let h = x.matmul(&w1).unwrap().add(&b1).unwrap().relu().unwrap();
        let loss = h.matmul(&w2).unwrap().cross_entropy(&labels).unwrap();
        loss.backward().unwrap();
        let mut all = vec![loss.item().unwrap()];
        for p in [&w1, &b1, &w2] {
            all.extend(vec_of(&p.grad().unwrap()));
        }
        all
    };
    let (c, gv) = (run(&Device::Cpu), run(&g));
    common::report(
        common::check_close("mlp step", &gv, &c, 1e-4, 1e-4)
            .err()
            .into_iter()
            .collect(),
    );
}

#[test]
fn a_leaf_gradient_is_the_users_to_overwrite_without_touching_later_backwards() {
    for d in devices() {
        // The root is the leaf itself: its gradient is backward()'s seed of one.
        let x = Tensor::scalar(3.0, &d).unwrap().requires_grad_();
        x.backward().unwrap();
        let grad = x.grad().unwrap();
        assert_eq!(vec_of(&grad), vec![1.0], "{d}");
        grad.copy_from(&Tensor::scalar(5.0, &d).unwrap()).unwrap();
        // A later backward still starts from one, and the loss rule's shortcut for that
        // seed gives the same gradient as an explicit seed of one.
        let w = Tensor::from_vec(vec![1.0, 2.0], &[1, 2], &d)
            .unwrap()
            .requires_grad_();
        let labels = Tensor::from_vec(vec![1.0], &[1], &d).unwrap();
        w.cross_entropy(&labels).unwrap().backward().unwrap();
        let implicit = vec_of(&w.grad().unwrap());
        w.zero_grad();
        let one = Tensor::ones(&[], &d).unwrap();
        w.cross_entropy(&labels)
            .unwrap()
            .backward_with(&one)
            .unwrap();
        assert_eq!(implicit, vec_of(&w.grad().unwrap()), "{d}");
        assert!(
            (implicit[0] - 0.268_941_4).abs() < 1e-5,
            "{d}: {implicit:?}"
        );
    }
}
