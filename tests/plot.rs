//! Figures: history curves and decision boundaries are drawn as PNG and SVG with the
//! embedded font, show what they should where it can be checked, and reject what cannot
//! be drawn.

mod common;

use wgnn::data::Dataset;
use wgnn::nn::Linear;
use wgnn::train::{EpochStats, History};
use wgnn::{Device, Tensor};

fn history(accuracy: bool) -> History {
    History {
        epochs: (1..=6)
            .map(|epoch| EpochStats {
                epoch,
                loss: 1.0 / epoch as f32,
                accuracy: accuracy.then_some(1.0 - 0.5 / epoch as f32),
                val_loss: Some(1.2 / epoch as f32),
                val_accuracy: accuracy.then_some(0.9 - 0.5 / epoch as f32),
                lr: 1e-3,
                seconds: 1.0,
                samples_per_second: 1000.0,
            })
            .collect(),
        ..History::default()
    }
}

#[test]
fn history_curves_are_drawn_as_png_and_svg() {
    let dir = common::scratch_dir("plot-history");
    let png = dir.join("curves.png");
    wgnn::plot::history(&history(true), &png).unwrap();
    let image = image::open(&png).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (1120, 420), "two panels side by side");
    let has = |rgb: [u8; 3]| image.pixels().filter(|p| p.0 == rgb).count();
    assert!(has([31, 119, 180]) > 200, "training curve missing");
    assert!(has([255, 127, 14]) > 200, "validation curve missing");

    let svg = dir.join("curves.svg");
    wgnn::plot::history(&history(false), &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..40.min(text.len())]);
    assert!(text.contains("Loss") && text.contains("validation"));
    assert!(
        !text.contains("Accuracy"),
        "no accuracy panel for a regression"
    );
    assert!(text.contains("width=\"560\""), "one panel");

    let err = wgnn::plot::history(&history(true), dir.join("curves.jpg")).unwrap_err();
    assert!(err.to_string().contains(".png or .svg"), "{err}");
    assert!(wgnn::plot::history(&History::default(), &png).is_err());
    let err =
        wgnn::plot::history(&history(true), dir.join("no-such-dir").join("c.png")).unwrap_err();
    assert!(err.to_string().contains("could not draw"), "{err}");
}

#[test]
fn the_decision_boundary_colours_each_side_by_the_predicted_class() {
    let dir = common::scratch_dir("plot-boundary");
    let d = Device::Cpu;
    // Predicts class 1 where x >= 0: the left half is class 0, the right half class 1.
    let model = Linear::new(2, 1, &d).unwrap();
    let w = Tensor::from_vec(vec![1.0, 0.0], &[1, 2], &d).unwrap();
    model.weight().copy_from(&w).unwrap();
    let data = Dataset::from_tensors(
        Tensor::from_vec(
            vec![-1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0, -1.0],
            &[4, 2],
            &d,
        )
        .unwrap(),
        Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0], &[4], &d).unwrap(),
    )
    .unwrap();
    let png = dir.join("boundary.png");
    wgnn::plot::decision_boundary(&model, &data, &png).unwrap();
    let image = image::open(&png).unwrap().to_rgb8();
    // Sample the middle row at a quarter and three quarters of the width.
    let (w, h) = image.dimensions();
    let left = image.get_pixel(w / 4, h / 2).0;
    let right = image.get_pixel(3 * w / 4, h / 2).0;
    assert!(
        left[2] > left[0],
        "left should be tinted blue (class 0): {left:?}"
    );
    assert!(
        right[0] > right[2],
        "right should be tinted red (class 1): {right:?}"
    );

    let svg = dir.join("boundary.svg");
    wgnn::plot::decision_boundary(&model, &data, &svg).unwrap();
    let size = std::fs::metadata(&svg).unwrap().len();
    assert!(
        size < 200_000,
        "one rectangle per run, not per cell: {size} bytes"
    );

    let wide = Dataset::from_tensors(
        Tensor::zeros(&[2, 3], &d).unwrap(),
        Tensor::zeros(&[2], &d).unwrap(),
    )
    .unwrap();
    let err = wgnn::plot::decision_boundary(&model, &wide, &png).unwrap_err();
    assert!(err.to_string().contains("2-D points"), "{err}");
}
