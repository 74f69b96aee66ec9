//! Saving and loading parameters in safetensors, the format PyTorch, JAX and Hugging Face
//! read: every parameter and buffer of a model as an F32 tensor under its name (`0.weight`,
//! `0.bias`, ...), written atomically. Loading checks every name, shape and dtype first,
//! reports every mismatch at once, and changes nothing unless all of them agree.
//!
//! ```
//! use wgnn::{nn::{Linear, Module}, Device};
//!
//! # fn main() -> wgnn::Result<()> {
//! let device = Device::cpu();
//! let path = std::env::temp_dir().join(format!("wgnn-doc-{}.safetensors", std::process::id()));
//! let trained = Linear::new(3, 2, &device)?;
//! wgnn::io::save(&trained, &path)?;
//! let fresh = Linear::new(3, 2, &device)?;
//! wgnn::io::load(&fresh, &path)?;
//! assert_eq!(fresh.parameters()[0].to_vec()?, trained.parameters()[0].to_vec()?);
//! # std::fs::remove_file(&path).ok();
//! # Ok(())
//! # }
//! ```

mod atomic;
mod tensor_file;

pub use atomic::write_atomic;
pub use tensor_file::{parse_tensors, read_tensors, write_tensors, StoredTensor, TensorFile};

use crate::error::{Error, Result};
use crate::nn::Module;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;

/// The parameters and buffers of `module`, by name, in the module's order.
pub fn state(module: &dyn Module) -> Vec<(String, Tensor)> {
    let mut all = module.named_parameters();
    all.extend(module.named_buffers());
    all
}

/// Saves every parameter and buffer of `module` to `path` (safetensors, F32), atomically.
pub fn save(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    metadata.insert(
        "producer".to_string(),
        format!("wgnn {}", env!("CARGO_PKG_VERSION")),
    );
    write_tensors(path.as_ref(), &state(module), metadata)
}

/// Loads every parameter and buffer of `module` from `path`, which must hold exactly the
/// module's names with the same shapes, as F32. A training checkpoint (see
/// [`crate::train::Checkpointing`]) loads too: its model part is taken. On any mismatch
/// nothing is changed and the error lists each one.
pub fn load(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    load_file(module, &read_tensors(path)?, &path.display())
}

/// Loads every parameter and buffer of `module` from a file already read (see
/// [`load`]); `origin` names it in errors.
pub fn load_file(module: &dyn Module, file: &TensorFile, origin: &dyn Display) -> Result<()> {
    let prefix = if file.metadata.contains_key(CHECKPOINT_FORMAT) {
        "model."
    } else {
        ""
    };
    assign(&state(module), &file.tensors, prefix, origin)
}

/// The metadata key that marks a training checkpoint (its value: the format version).
pub(crate) const CHECKPOINT_FORMAT: &str = "wgnn.checkpoint";

/// Copies the stored tensors named `prefix + name` into the given tensors, after checking
/// that every one is there with the right shape and dtype and that the file holds no other
/// name under `prefix`.
pub(crate) fn assign(
    targets: &[(String, Tensor)],
    stored: &std::collections::BTreeMap<String, StoredTensor>,
    prefix: &str,
    origin: &dyn Display,
) -> Result<()> {
    let mut problems = Vec::new();
    let mut ready = Vec::with_capacity(targets.len());
    for (name, target) in targets {
        let key = format!("{prefix}{name}");
        let Some(found) = stored.get(&key) else {
            problems.push(format!("{key}: missing (expected {:?} F32)", target.dims()));
            continue;
        };
        let mut wrong = Vec::new();
        if found.dims != target.dims() {
            wrong.push(format!(
                "shape {:?}, expected {:?}",
                found.dims,
                target.dims()
            ));
        }
        if found.values.is_none() {
            wrong.push(format!("dtype {}, expected F32", found.dtype));
        }
        match (&found.values, wrong.is_empty()) {
            (Some(values), true) => ready.push((target, values)),
            _ => problems.push(format!("{key}: {}", wrong.join(", "))),
        }
    }
    let expected: std::collections::HashSet<String> = targets
        .iter()
        .map(|(name, _)| format!("{prefix}{name}"))
        .collect();
    problems.extend(
        stored
            .keys()
            .filter(|k| k.starts_with(prefix) && !expected.contains(*k))
            .map(|k| format!("{k}: not a tensor of this model")),
    );
    if !problems.is_empty() {
        return Err(Error::data(
            origin,
            format!(
                "does not match the model ({} problem{}): {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("; ")
            ),
        ));
    }
    for (target, values) in ready {
        let source = Tensor::from_vec(values.clone(), target.dims(), target.device())?;
        target.copy_from(&source)?;
    }
    Ok(())
}
