//! Reports: the confusion matrix and classification report agree with scikit-learn's
//! figures on a worked example and with the model's predictions on every device; the
//! model summary matches Keras' for the course's CNN.

mod common;

use wgnn::data::Dataset;
use wgnn::nn::Linear;
use wgnn::train::ConfusionMatrix;
use wgnn::{Device, Tensor};

#[test]
fn scores_match_scikit_learn_on_a_worked_example() {
    // sklearn.metrics.classification_report([0,0,1,1,2,2,2], [0,1,1,1,2,0,2])
    let m =
        ConfusionMatrix::from_labels(&[0, 0, 1, 1, 2, 2, 2], &[0, 1, 1, 1, 2, 0, 2], 3).unwrap();
    assert_eq!(m.count(2, 0), 1);
    assert_eq!(m.total(), 7);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let s1 = m.scores(1);
    assert!(close(s1.precision, 2.0 / 3.0) && close(s1.recall, 1.0) && close(s1.f1, 0.8));
    assert_eq!(s1.support, 2);
    let macro_avg = m.average(false);
    assert!(close(macro_avg.precision, (0.5 + 2.0 / 3.0 + 1.0) / 3.0));
    assert!(close(macro_avg.f1, 0.7));
    let weighted = m.average(true);
    assert!(close(weighted.precision, (1.0 + 4.0 / 3.0 + 3.0) / 7.0));
    assert!(close(m.accuracy(), 5.0 / 7.0));
    let report = m.report().to_string();
    // scikit-learn 1.x printed these lines for the same labels.
    for line in [
        "              precision    recall  f1-score   support",
        "           0       0.50      0.50      0.50         2",
        "           1       0.67      1.00      0.80         2",
        "           2       1.00      0.67      0.80         3",
        "    accuracy                           0.71         7",
        "   macro avg       0.72      0.72      0.70         7",
        "weighted avg       0.76      0.71      0.71         7",
    ] {
        assert!(report.contains(line), "{line:?} not in\n{report}");
    }
    let shown = m.to_string();
    assert!(shown.lines().nth(3).unwrap().ends_with("1 0 2"), "{shown}");
}

#[test]
fn a_class_never_predicted_scores_zero_instead_of_dividing_by_zero() {
    let m = ConfusionMatrix::from_labels(&[0, 1, 2], &[0, 0, 0], 4).unwrap();
    let s = m.scores(1);
    assert_eq!((s.precision, s.recall, s.f1, s.support), (0.0, 0.0, 0.0, 1));
    let s = m.scores(3);
    assert_eq!((s.precision, s.recall, s.support), (0.0, 0.0, 0));
    assert!(ConfusionMatrix::from_labels(&[0, 1], &[0], 2).is_err());
    let err = ConfusionMatrix::from_labels(&[0, 5], &[0, 1], 3).unwrap_err();
    assert!(err.to_string().contains("below 3, got 5"), "{err}");
    assert!(ConfusionMatrix::from_labels(&[], &[], 0).is_err());
}

#[test]
fn the_matrix_of_a_model_counts_its_argmax_predictions_on_every_device() {
    let devices = common::devices();
    for d in &devices {
        // A linear model scoring class c by input c: it predicts the argmax of the input.
        let model = Linear::new(4, 4, d).unwrap();
        let mut identity = vec![0.0; 16];
        (0..4).for_each(|i| identity[i * 5] = 1.0);
        let eye = Tensor::from_vec(identity, &[4, 4], d).unwrap();
        model.weight().copy_from(&eye).unwrap();
        let inputs: Vec<f32> = (0..4 * 11).map(|i| ((i * 7) % 11) as f32).collect();
        let predicted: Vec<usize> = inputs
            .chunks(4)
            .map(|r| (0..4).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
            .collect();
        let labels: Vec<f32> = (0..11).map(|i| (i % 4) as f32).collect();
        let actual: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let data = Dataset::from_tensors(
            Tensor::from_vec(inputs, &[11, 4], d).unwrap(),
            Tensor::from_vec(labels, &[11], d).unwrap(),
        )
        .unwrap();
        let m = ConfusionMatrix::of_model(&model, &data, 4, 3).unwrap();
        assert_eq!(
            m,
            ConfusionMatrix::from_labels(&actual, &predicted, 4).unwrap()
        );
        assert!(ConfusionMatrix::of_model(&model, &data, 4, 0).is_err());
    }
}

#[test]
fn the_cnn_summary_matches_keras() {
    let model = wgnn::models::mnist_cnn(&Device::Cpu, None).unwrap();
    let summary = model.summary(&[1, 28, 28]).unwrap();
    let rows: Vec<(Vec<usize>, usize)> = summary
        .layers
        .iter()
        .map(|l| (l.output_dims.clone(), l.parameters))
        .collect();
    assert_eq!(
        rows,
        vec![
            (vec![32, 26, 26], 320),
            (vec![32, 26, 26], 0),
            (vec![64, 24, 24], 18_496),
            (vec![64, 24, 24], 0),
            (vec![64, 12, 12], 0),
            (vec![64, 12, 12], 0),
            (vec![9216], 0),
            (vec![128], 1_179_776),
            (vec![128], 0),
            (vec![128], 0),
            (vec![10], 1_290),
        ]
    );
    let text = summary.to_string();
    assert!(text.contains("Total params: 1,199,882"), "{text}");
    assert!(text.contains("Non-trainable params: 0"), "{text}");
    assert!(text.contains("(None, 64, 12, 12)"), "{text}");
    // A wrong sample shape is the first layer's error, not a panic.
    assert!(model.summary(&[3, 28, 28]).is_err());
    // Batch norm's running statistics are non-trainable.
    let bn = wgnn::nn::Sequential::new()
        .add(Linear::new(3, 2, &Device::Cpu).unwrap())
        .add(wgnn::nn::BatchNorm1d::new(2, &Device::Cpu).unwrap());
    let s = bn.summary(&[3]).unwrap();
    assert_eq!((s.trainable(), s.non_trainable()), (8 + 4, 4));
}
