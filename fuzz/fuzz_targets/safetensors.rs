//! The safetensors loader, fed any bytes: parsing gives F32 tensors whose values fill
//! their shapes, and loading into a model either takes every tensor or changes nothing;
//! it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wgnn::nn::{BatchNorm1d, Linear, Sequential};
use wgnn::{Device, Tensor};

thread_local! {
    /// The model the seed corpus was saved from: names 0.weight (2, 3), 0.bias (2),
    /// 1.weight, 1.bias, 1.running_mean, 1.running_var (2).
    static MODEL: Sequential = Sequential::new()
        .add(Linear::new(3, 2, &Device::Cpu).unwrap())
        .add(BatchNorm1d::new(2, &Device::Cpu).unwrap());
}

/// Every parameter and buffer of `model`, as bit patterns (a NaN equals itself).
fn values(model: &Sequential) -> Vec<Vec<u32>> {
    wgnn::io::state(model)
        .iter()
        .map(|(_, t): &(String, Tensor)| t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(file) = wgnn::io::parse_tensors(data) else {
        return;
    };
    for (name, tensor) in &file.tensors {
        if let Some(values) = &tensor.values {
            assert_eq!(
                values.len(),
                tensor.dims.iter().product::<usize>(),
                "{name}"
            );
        }
    }
    MODEL.with(|model| {
        let before = values(model);
        match wgnn::io::load_file(model, &file, &"fuzz input") {
            Ok(()) => {
                // A training checkpoint keeps the model under `model.`.
                let prefix = if file.metadata.contains_key("wgnn.checkpoint") {
                    "model."
                } else {
                    ""
                };
                for ((name, _), loaded) in wgnn::io::state(model).iter().zip(values(model)) {
                    let stored = file.tensors[&format!("{prefix}{name}")]
                        .values
                        .as_ref()
                        .unwrap();
                    let same = stored.iter().zip(&loaded).all(|(a, b)| a.to_bits() == *b);
                    assert!(same, "{name} was not loaded as stored");
                }
            }
            Err(_) => assert_eq!(values(model), before, "a failed load changed the model"),
        }
    });
});
