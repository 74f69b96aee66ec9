//! The training loop: it learns, records its history, validates, stops early and
//! restores the best weights, applies schedules, and rejects impossible settings.

mod common;

use wgnn::data::synthetic;
use wgnn::nn::{Activation, Linear, Module, Sequential};
use wgnn::optim::{Optimizer, Schedule};
use wgnn::train::{evaluate, fit, predict, Checkpointing, EarlyStopping, FitOptions, Loss};
use wgnn::{Device, Error, Tensor};

fn small_model(device: &Device, seed: u64) -> Sequential {
    wgnn::nn::manual_seed(seed);
    Sequential::new()
        .add(Linear::new(2, 8, device).unwrap())
        .add(Activation::relu())
        .add(Linear::new(8, 1, device).unwrap())
}

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        epochs,
        batch_size,
        verbose: false,
        ..FitOptions::default()
    }
}

#[test]
fn fit_learns_the_circles_on_every_device_with_the_same_history() {
    let devices = common::devices();
    let mut finals = Vec::new();
    for d in &devices {
        let data = synthetic::circles(200, 0.5, 0.05, 3, d).unwrap();
        let model = small_model(d, 1);
        let mut adam = Optimizer::adam(model.parameters(), 0.05).unwrap();
        let history = fit(
            &model,
            &mut adam,
            Loss::BinaryCrossEntropy,
            &data,
            &quiet(40, 32),
        )
        .unwrap();
        assert_eq!(history.epochs.len(), 40);
        let first = &history.epochs[0];
        let last = history.last().unwrap();
        assert!(
            last.loss < first.loss / 3.0,
            "{} -> {}",
            first.loss,
            last.loss
        );
        let acc = evaluate(&model, &data, Loss::BinaryCrossEntropy, 64)
            .unwrap()
            .accuracy
            .unwrap();
        assert!(acc > 0.95, "accuracy {acc} on {d}");
        finals.push(last.loss);
    }
    if let [cpu, gpu] = finals[..] {
        assert!(
            (cpu - gpu).abs() < 1e-3 * (1.0 + cpu.abs()),
            "cpu {cpu} vs gpu {gpu}"
        );
    }
}

#[test]
fn validation_split_and_early_stopping_restore_the_best_epoch() {
    let d = Device::Cpu;
    let data = synthetic::moons(300, 0.3, 5, &d).unwrap();
    let model = small_model(&d, 2);
    // A learning rate this high makes the validation loss wander, so patience runs out.
    let mut sgd = Optimizer::sgd(model.parameters(), 3.0).unwrap();
    let options = FitOptions {
        validation_split: Some(0.3),
        early_stopping: Some(EarlyStopping {
            patience: 2,
            min_delta: 0.0,
            restore_best_weights: true,
        }),
        ..quiet(200, 16)
    };
    let history = fit(&model, &mut sgd, Loss::BinaryCrossEntropy, &data, &options).unwrap();
    assert!(
        history.stopped_early,
        "ran all {} epochs",
        history.epochs.len()
    );
    let best = history.restored_epoch.unwrap();
    let best_val = history.epochs[best - 1].val_loss.unwrap();
    assert!(history
        .epochs
        .iter()
        .all(|e| e.val_loss.unwrap() >= best_val - 1e-6));
    assert!(history.epochs.iter().all(|e| e.val_accuracy.is_some()));
    // The model holds the best epoch's weights: its validation loss is the best one.
    let (_, val) = data.split(0.3).unwrap();
    let now = evaluate(&model, &val, Loss::BinaryCrossEntropy, 64)
        .unwrap()
        .loss;
    assert!(
        (now - best_val).abs() < 1e-4,
        "restored {now}, best {best_val}"
    );
}

#[test]
fn schedules_set_the_learning_rate_each_step() {
    let d = Device::Cpu;
    let data = synthetic::xor(&d).unwrap();
    let model = small_model(&d, 3);
    let mut sgd = Optimizer::sgd(model.parameters(), 0.1).unwrap();
    let options = FitOptions {
        schedule: Some(Schedule::Step {
            every: 4,
            gamma: 0.5,
        }),
        ..quiet(3, 1)
    };
    let history = fit(&model, &mut sgd, Loss::BinaryCrossEntropy, &data, &options).unwrap();
    // Steps 0-3 at 0.1, 4-7 at 0.05, 8-11 at 0.025.
    let lrs: Vec<f32> = history.epochs.iter().map(|e| e.lr).collect();
    assert_eq!(lrs, vec![0.1, 0.05, 0.025]);
}

#[test]
fn regression_has_no_accuracy_and_predict_runs_in_eval_mode() {
    let d = Device::Cpu;
    let data = synthetic::ice_cream(50, 1, &d).unwrap();
    let model = Linear::new(1, 1, &d).unwrap();
    let mut adam = Optimizer::adam(model.parameters(), 1.0).unwrap();
    let history = fit(
        &model,
        &mut adam,
        Loss::MeanSquaredError,
        &data,
        &quiet(300, 50),
    )
    .unwrap();
    assert!(history.last().unwrap().accuracy.is_none());
    let y = predict(&model, &Tensor::from_vec(vec![20.0], &[1, 1], &d).unwrap()).unwrap();
    assert!(!y.requires_grad());
    assert!(
        (y.item().unwrap() - 450.0).abs() < 40.0,
        "prediction {}",
        y.item().unwrap()
    );
}

#[test]
fn the_same_seed_gives_the_same_result_and_a_callback_can_stop() {
    let devices = common::devices();
    for d in &devices {
        let run = |epochs: usize, callback: Option<wgnn::train::EpochCallback>| {
            let data = synthetic::moons(100, 0.2, 1, d).unwrap();
            let model = small_model(d, 7);
            let mut adam = Optimizer::adam(model.parameters(), 0.01).unwrap();
            let options = FitOptions {
                seed: 11,
                on_epoch_end: callback,
                ..quiet(epochs, 16)
            };
            let history =
                fit(&model, &mut adam, Loss::BinaryCrossEntropy, &data, &options).unwrap();
            (history, model.parameters()[0].to_vec().unwrap())
        };
        let (a, wa) = run(5, None);
        let (b, wb) = run(5, None);
        assert_eq!(wa, wb, "weights differ between identical runs on {d}");
        assert_eq!(
            a.epochs.iter().map(|e| e.loss).collect::<Vec<_>>(),
            b.epochs.iter().map(|e| e.loss).collect::<Vec<_>>()
        );
        let (stopped, _) = run(
            5,
            Some(std::sync::Arc::new(|e: &wgnn::train::EpochStats| {
                e.epoch < 2
            })),
        );
        assert_eq!(stopped.epochs.len(), 2);
        assert!(stopped.stopped_early);
    }
}

#[test]
fn impossible_settings_are_errors() {
    let d = Device::Cpu;
    let data = synthetic::xor(&d).unwrap();
    let model = small_model(&d, 4);
    let mut sgd = Optimizer::sgd(model.parameters(), 0.1).unwrap();
    let fails = |o: FitOptions, sgd: &mut Optimizer| {
        fit(&model, sgd, Loss::BinaryCrossEntropy, &data, &o).unwrap_err()
    };
    assert!(matches!(
        fails(quiet(1, 0), &mut sgd),
        Error::InvalidArgument { .. }
    ));
    let no_validation = FitOptions {
        early_stopping: Some(EarlyStopping {
            patience: 1,
            min_delta: 0.0,
            restore_best_weights: false,
        }),
        ..quiet(1, 2)
    };
    assert!(fails(no_validation, &mut sgd)
        .to_string()
        .contains("validation"));
    assert!(fails(
        FitOptions {
            validation_split: Some(2.0),
            ..quiet(1, 2)
        },
        &mut sgd
    )
    .to_string()
    .contains("fraction"));
    let bad_schedule = FitOptions {
        schedule: Some(Schedule::Cosine {
            total: 0,
            min_lr: 0.0,
        }),
        ..quiet(1, 2)
    };
    assert!(matches!(
        fails(bad_schedule, &mut sgd),
        Error::InvalidArgument { .. }
    ));
    // Labels shaped for cross-entropy do not fit a binary model's output.
    assert!(fit(&model, &mut sgd, Loss::CrossEntropy, &data, &quiet(1, 2)).is_err());
}

/// Every parameter's values, in order.
fn values(model: &dyn Module) -> Vec<Vec<f32>> {
    model
        .parameters()
        .iter()
        .map(|p| p.to_vec().unwrap())
        .collect()
}

/// A model with dropout, so a resumed run must also restore the random streams.
fn dropout_model(device: &Device, seed: u64) -> Sequential {
    wgnn::nn::manual_seed(seed);
    Sequential::new()
        .add(Linear::new(2, 16, device).unwrap())
        .add(Activation::relu())
        .add(wgnn::nn::Dropout::new(0.2).unwrap())
        .add(Linear::new(16, 1, device).unwrap())
}

fn checkpointed(epochs: usize, path: &std::path::Path) -> FitOptions {
    FitOptions {
        validation_split: Some(0.25),
        early_stopping: Some(EarlyStopping {
            patience: 50,
            min_delta: 0.0,
            restore_best_weights: true,
        }),
        schedule: Some(Schedule::Cosine {
            total: 60,
            min_lr: 0.0,
        }),
        checkpoint: Some(Checkpointing::new(path)),
        ..quiet(epochs, 16)
    }
}

/// (epoch, loss, accuracy, validation loss, learning rate) of every epoch.
type Figures = Vec<(usize, f32, Option<f32>, Option<f32>, f32)>;

fn figures(h: &wgnn::train::History) -> Figures {
    h.epochs
        .iter()
        .map(|e| (e.epoch, e.loss, e.accuracy, e.val_loss, e.lr))
        .collect()
}

#[test]
fn a_run_resumed_from_its_checkpoint_ends_exactly_where_an_uninterrupted_one_does() {
    let dir = common::scratch_dir("resume");
    let devices = common::devices();
    for (i, d) in devices.iter().enumerate() {
        let data = synthetic::moons(160, 0.1, 4, d).unwrap();
        let train = |model: &Sequential, epochs: usize, path: &std::path::Path| {
            let mut adam = Optimizer::adam(model.parameters(), 0.02).unwrap();
            let h = fit(
                model,
                &mut adam,
                Loss::BinaryCrossEntropy,
                &data,
                &checkpointed(epochs, path),
            )
            .unwrap();
            (h, values(model))
        };
        let whole = dropout_model(d, 1);
        let (h_whole, p_whole) = train(&whole, 5, &dir.join(format!("whole-{i}.safetensors")));

        let path = dir.join(format!("parts-{i}.safetensors"));
        train(&dropout_model(d, 1), 2, &path);
        // A fresh process would build the model anew, maybe from another seed.
        let (h_resumed, p_resumed) = train(&dropout_model(d, 99), 5, &path);
        assert_eq!(figures(&h_whole), figures(&h_resumed), "on {d}");
        assert_eq!(h_whole.restored_epoch, h_resumed.restored_epoch);
        assert_eq!(p_whole, p_resumed, "on {d}");

        // A finished run resumes to the same end without training.
        let (h_again, p_again) = train(&dropout_model(d, 5), 5, &path);
        assert_eq!(figures(&h_again), figures(&h_whole));
        assert_eq!(p_again, p_whole);

        // The checkpoint's model part loads as a model.
        let plain = dropout_model(d, 3);
        wgnn::io::load(&plain, &path).unwrap();
    }
}

#[test]
fn a_checkpoint_from_other_settings_is_refused_and_changes_nothing() {
    let dir = common::scratch_dir("refuse");
    let d = Device::Cpu;
    let data = synthetic::moons(64, 0.1, 4, &d).unwrap();
    let path = dir.join("run.safetensors");
    let model = dropout_model(&d, 1);
    let mut adam = Optimizer::adam(model.parameters(), 0.02).unwrap();
    fit(
        &model,
        &mut adam,
        Loss::BinaryCrossEntropy,
        &data,
        &checkpointed(1, &path),
    )
    .unwrap();

    let other = dropout_model(&d, 2);
    let before = values(&other);
    let refusal = |model: &Sequential, optimizer: &mut Optimizer, options: &FitOptions| {
        fit(model, optimizer, Loss::BinaryCrossEntropy, &data, options)
            .unwrap_err()
            .to_string()
    };
    let mut sgd = Optimizer::sgd(other.parameters(), 0.1).unwrap();
    let err = refusal(&other, &mut sgd, &checkpointed(2, &path));
    assert!(err.contains("written with the optimizer Adam"), "{err}");
    let mut adam = Optimizer::adam(other.parameters(), 0.02).unwrap();
    let options = FitOptions {
        batch_size: 8,
        ..checkpointed(2, &path)
    };
    let err = refusal(&other, &mut adam, &options);
    assert!(
        err.contains("batch_size 16, but this run has batch_size 8"),
        "{err}"
    );
    let wider = Sequential::new()
        .add(Linear::new(2, 17, &d).unwrap())
        .add(Activation::relu())
        .add(wgnn::nn::Dropout::new(0.2).unwrap())
        .add(Linear::new(17, 1, &d).unwrap());
    let mut wider_adam = Optimizer::adam(wider.parameters(), 0.02).unwrap();
    let err = refusal(&wider, &mut wider_adam, &checkpointed(2, &path));
    assert!(
        err.contains("model.0.weight: shape [16, 2], expected [17, 2]"),
        "{err}"
    );
    let mut reversed = other.parameters();
    reversed.reverse();
    let mut shuffled_adam = Optimizer::adam(reversed, 0.02).unwrap();
    let err = refusal(&other, &mut shuffled_adam, &checkpointed(2, &path));
    assert!(
        err.contains("the optimizer's parameter 0 is not the model's 0.weight"),
        "{err}"
    );
    assert_eq!(before, values(&other));
    let never = FitOptions {
        checkpoint: Some(Checkpointing {
            every: 0,
            ..Checkpointing::new(&path)
        }),
        ..quiet(1, 8)
    };
    assert!(fit(&other, &mut adam, Loss::BinaryCrossEntropy, &data, &never).is_err());
}

#[test]
fn a_diverging_run_stops_naming_the_epoch_step_and_tensor_unless_told_to_go_on() {
    let devices = common::devices();
    for d in &devices {
        let data = synthetic::ice_cream(64, 0, d).unwrap();
        let run = |check_every: usize, stop: bool| {
            wgnn::nn::manual_seed(0);
            let model = Linear::new(1, 1, d).unwrap();
            // A learning rate this large makes plain SGD on the MSE blow up in a few steps.
            let mut sgd = Optimizer::sgd(model.parameters(), 50.0).unwrap();
            let options = FitOptions {
                check_every,
                stop_on_non_finite: stop,
                shuffle: false,
                ..quiet(3, 4)
            };
            fit(&model, &mut sgd, Loss::MeanSquaredError, &data, &options)
        };
        let err = run(1, true).unwrap_err();
        let where_ = |e: &Error| match e {
            Error::NonFinite {
                epoch,
                step,
                tensor,
                ..
            } => (*epoch, *step, tensor.clone()),
            other => panic!("expected a NonFinite error, got {other}"),
        };
        let (epoch, step, tensor) = where_(&err);
        assert_eq!(epoch, 1, "on {d}");
        assert!(step > 1 && step <= 16, "step {step} on {d}");
        assert_eq!(tensor, "the loss");
        assert!(err.to_string().contains("lower the learning rate"), "{err}");
        // Checked once per epoch instead, the same step is found, and by then the fault
        // has reached the parameters.
        let late = run(100, true).unwrap_err();
        assert_eq!(where_(&late), (epoch, step, tensor), "on {d}");
        assert!(
            late.to_string()
                .contains("non-finite parameters by then: weight"),
            "{late}"
        );
        // Told to go on, it trains all epochs and reports the non-finite loss.
        let history = run(100, false).unwrap();
        assert_eq!(history.epochs.len(), 3);
        assert!(!history.epochs[2].loss.is_finite());
    }
}

#[test]
fn fit_adds_weight_and_activity_penalties_to_what_it_minimises() {
    use wgnn::nn::{ActivityRegularization, Regularizer};
    for d in common::devices() {
        // One SGD step of fit against the same step written out by hand.
        let build = || {
            wgnn::nn::manual_seed(3);
            Sequential::new()
                .add(
                    Linear::new(2, 3, &d)
                        .unwrap()
                        .with_weight_regularizer(Regularizer::l2(0.3))
                        .unwrap(),
                )
                .add(ActivityRegularization::new(Regularizer { l1: 0.2, l2: 0.4 }).unwrap())
                .add(Linear::new(3, 2, &d).unwrap())
        };
        let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.25], &[2, 2], &d).unwrap();
        let y = Tensor::from_vec(vec![1.0, 0.0], &[2], &d).unwrap();
        let fitted = build();
        let mut sgd = Optimizer::sgd(fitted.parameters(), 0.1).unwrap();
        let data = wgnn::data::Dataset::from_tensors(x.clone(), y.clone()).unwrap();
        let options = FitOptions {
            epochs: 1,
            batch_size: 2,
            verbose: false,
            ..FitOptions::default()
        };
        fit(&fitted, &mut sgd, Loss::CrossEntropy, &data, &options).unwrap();

        let by_hand = build();
        let layers = by_hand.layers();
        let h = layers[0].forward(&x).unwrap();
        let out = layers[2].forward(&h).unwrap();
        let weight = by_hand.parameters()[0].clone();
        let objective = out
            .cross_entropy(&y)
            .unwrap()
            .add(
                &weight
                    .mul(&weight)
                    .unwrap()
                    .sum()
                    .unwrap()
                    .mul_scalar(0.3)
                    .unwrap(),
            )
            .unwrap()
            .add(
                &h.abs()
                    .unwrap()
                    .sum()
                    .unwrap()
                    .mul_scalar(0.2 / 2.0)
                    .unwrap(),
            )
            .unwrap()
            .add(
                &h.mul(&h)
                    .unwrap()
                    .sum()
                    .unwrap()
                    .mul_scalar(0.4 / 2.0)
                    .unwrap(),
            )
            .unwrap();
        objective.backward().unwrap();
        for (p, q) in fitted.parameters().iter().zip(by_hand.parameters()) {
            let want: Vec<f32> = q
                .to_vec()
                .unwrap()
                .iter()
                .zip(q.grad().unwrap().to_vec().unwrap())
                .map(|(v, g)| v - 0.1 * g)
                .collect();
            let got = p.to_vec().unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{d}: fit {got:?}, by hand {want:?}");
            }
        }
    }
}

/// Two threads using the CPU path at once: one trains while the other evaluates another
/// model over and over. The CPU loops run on rayon's workers, and a worker waiting inside
/// one loop may run the other; each must still record (or not) as its own caller asked.
#[test]
fn cpu_training_and_evaluation_on_two_threads_do_not_mix_their_grad_modes() {
    let d = Device::Cpu;
    let wide = |seed| {
        wgnn::nn::manual_seed(seed);
        Sequential::new()
            .add(Linear::new(256, 512, &d).unwrap())
            .add(Activation::relu())
            .add(Linear::new(512, 4, &d).unwrap())
    };
    let data = |seed| {
        let x = Tensor::uniform(&[512, 256], -1.0, 1.0, seed, &d).unwrap();
        let labels: Vec<f32> = (0..512)
            .map(|i| ((i * 7 + seed as usize) % 4) as f32)
            .collect();
        let y = Tensor::from_vec(labels, &[512], &d).unwrap();
        wgnn::data::Dataset::from_tensors(x, y).unwrap()
    };
    let (trained, evaluated) = (wide(1), wide(2));
    let (train_set, eval_set) = (data(3), data(4));
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let evaluator = s.spawn(|| {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || runs == 0 {
                evaluate(&evaluated, &eval_set, Loss::CrossEntropy, 256).unwrap();
                runs += 1;
            }
        });
        let mut adam = Optimizer::adam(trained.parameters(), 1e-3).unwrap();
        let result = fit(
            &trained,
            &mut adam,
            Loss::CrossEntropy,
            &train_set,
            &quiet(30, 64),
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        evaluator.join().unwrap();
        assert_eq!(result.unwrap().epochs.len(), 30);
    });
}

#[test]
fn evaluation_whose_batch_outgrows_the_device_buffers_runs_in_smaller_batches() {
    let Some(gpu) = common::gpu() else { return };
    // 36,000 samples through Linear(1 -> 1000): a batch of them is 144 MB of logits, over
    // the 128 MiB a buffer may bind on lavapipe (and under WebGPU's default limits).
    let limit = gpu.gpu_context().unwrap().max_binding_bytes();
    let samples = 36_000;
    if (samples * 1000 * 4) as u64 <= limit {
        println!("skipped: this adapter binds {limit} bytes");
        return;
    }
    let evaluation = |device: &Device| {
        wgnn::nn::manual_seed(3);
        let model = Sequential::new().add(Linear::new(1, 1000, device).unwrap());
        let x = Tensor::uniform(&[samples, 1], -1.0, 1.0, 4, device).unwrap();
        let labels: Vec<f32> = (0..samples).map(|i| (i % 1000) as f32).collect();
        let y = Tensor::from_vec(labels, &[samples], device).unwrap();
        let data = wgnn::data::Dataset::from_tensors(x, y).unwrap();
        evaluate(&model, &data, Loss::CrossEntropy, samples).unwrap()
    };
    let (on_gpu, on_cpu) = (evaluation(&gpu), evaluation(&Device::Cpu));
    assert!(
        (on_gpu.loss - on_cpu.loss).abs() < 1e-4 * on_cpu.loss.abs().max(1.0),
        "{on_gpu:?} {on_cpu:?}"
    );
    assert_eq!(on_gpu.accuracy, on_cpu.accuracy);
}
