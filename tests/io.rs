//! Saving and loading models in safetensors: values come back exactly, on every device;
//! every mismatch is reported and nothing is changed; writes leave no temporary files.

mod common;

use std::collections::HashMap;
use wgnn::nn::{Activation, BatchNorm1d, Conv2d, Flatten, Linear, Module, Sequential};
use wgnn::{Device, Error, Tensor};

fn model(device: &Device, seed: u64) -> Sequential {
    wgnn::nn::manual_seed(seed);
    Sequential::new()
        .add(Conv2d::new(1, 3, [3, 3], device).unwrap())
        .add(Activation::relu())
        .add(Flatten)
        .add(Linear::new(3 * 4 * 4, 5, device).unwrap())
        .add(BatchNorm1d::new(5, device).unwrap())
}

fn values(m: &dyn Module) -> Vec<(String, Vec<f32>)> {
    wgnn::io::state(m)
        .into_iter()
        .map(|(n, t)| (n, t.to_vec().unwrap()))
        .collect()
}

#[test]
fn a_saved_model_loads_back_exactly_on_every_device() {
    let dir = common::scratch_dir("io-roundtrip");
    let devices = common::devices();
    for (i, device) in devices.iter().enumerate() {
        let path = dir.join(format!("model-{i}.safetensors"));
        let saved = model(device, 1);
        wgnn::io::save(&saved, &path).unwrap();
        let loaded = model(device, 2);
        assert_ne!(values(&saved), values(&loaded), "the seeds must differ");
        wgnn::io::load(&loaded, &path).unwrap();
        assert_eq!(values(&saved), values(&loaded));
        // The same file loads on the other device too.
        let other = model(&devices[devices.len() - 1 - i], 3);
        wgnn::io::load(&other, &path).unwrap();
        assert_eq!(values(&saved), values(&other));
    }
    let names: Vec<String> = wgnn::io::read_tensors(&dir.join("model-0.safetensors"))
        .unwrap()
        .tensors
        .into_keys()
        .collect();
    assert_eq!(
        names,
        [
            "0.bias",
            "0.weight",
            "3.bias",
            "3.weight",
            "4.bias",
            "4.running_mean",
            "4.running_var",
            "4.weight"
        ]
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn every_mismatch_is_reported_and_nothing_is_changed() {
    let dir = common::scratch_dir("io-mismatch");
    let path = dir.join("other.safetensors");
    let device = Device::Cpu;
    // A file with a wrong shape for 0.weight, an F16 0.bias, no 3.*, and an extra name.
    let half: Vec<u8> = [1.0f32, 2.0, 3.0]
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    let wrong = vec![0f32; 9 * 2];
    let mut tensors = vec![
        (
            "0.weight",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![2, 9],
                bytemuck::cast_slice(&wrong),
            )
            .unwrap(),
        ),
        (
            "0.bias",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F16, vec![3], &half).unwrap(),
        ),
    ];
    let extra = vec![1f32; 4];
    tensors.push((
        "9.weight",
        safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            vec![4],
            bytemuck::cast_slice(&extra),
        )
        .unwrap(),
    ));
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let m = model(&device, 1);
    let before = values(&m);
    let err = wgnn::io::load(&m, &path).unwrap_err();
    let text = err.to_string();
    for expected in [
        "0.weight: shape [2, 9], expected [3, 1, 3, 3]",
        "0.bias: dtype F16, expected F32",
        "3.weight: missing (expected [5, 48] F32)",
        "4.running_var: missing",
        "9.weight: not a tensor of this model",
        "9 problems",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(matches!(err, Error::Data { .. }));
    assert_eq!(before, values(&m), "a failed load must change nothing");
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = common::scratch_dir("io-bad");
    let m = model(&Device::Cpu, 1);
    let missing = dir.join("absent.safetensors");
    let err = wgnn::io::load(&m, &missing).unwrap_err().to_string();
    assert!(
        err.contains("absent.safetensors") && err.contains("could not read"),
        "{err}"
    );

    let good = dir.join("good.safetensors");
    wgnn::io::save(&m, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    for (name, content) in [
        ("truncated", bytes[..bytes.len() - 7].to_vec()),
        ("header-only", bytes[..5].to_vec()),
        ("empty", Vec::new()),
        ("text", b"this is not a tensor file".to_vec()),
    ] {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::write(&path, content).unwrap();
        let err = wgnn::io::load(&m, &path).unwrap_err().to_string();
        assert!(
            err.contains("not a valid safetensors file"),
            "{name}: {err}"
        );
    }
}

#[test]
fn saving_over_a_file_replaces_it_whole_and_keeps_metadata() {
    let dir = common::scratch_dir("io-replace");
    let path = dir.join("tensors.safetensors");
    let device = Device::Cpu;
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3], &device).unwrap();
    let mut metadata = HashMap::new();
    metadata.insert("note".to_string(), "first".to_string());
    wgnn::io::write_tensors(&path, &[("a".into(), a.clone())], metadata).unwrap();
    let b = Tensor::from_vec(vec![4.0; 6], &[2, 3], &device).unwrap();
    wgnn::io::write_tensors(&path, &[("b".into(), b)], HashMap::new()).unwrap();
    let file = wgnn::io::read_tensors(&path).unwrap();
    assert_eq!(file.tensors.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(file.tensors["b"].dims, [2, 3]);
    assert!(file.metadata.is_empty());
    let err = wgnn::io::write_tensors(
        &path,
        &[("a".into(), a.clone()), ("a".into(), a)],
        HashMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("a is given twice"), "{err}");
    let err = wgnn::io::write_tensors(
        &dir.join("no-such-folder").join("x.safetensors"),
        &[],
        HashMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("could not write"), "{err}");
}
