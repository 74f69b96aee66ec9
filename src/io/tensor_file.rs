//! Reading and writing named f32 tensors in the safetensors format (the safetensors crate).

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One tensor read from a file: its dtype and dims as stored, and its values when the
/// dtype is F32.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    /// The dtype as the file names it (`F32`, `F16`, `I64`, ...).
    pub dtype: String,
    /// The dims.
    pub dims: Vec<usize>,
    /// The values, for F32 tensors (None for any other dtype).
    pub values: Option<Vec<f32>>,
}

/// The contents of a safetensors file: tensors by name and the string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    /// Every tensor, by name.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// The file's `__metadata__` map.
    pub metadata: HashMap<String, String>,
}

/// Writes `tensors` (F32, under their names) and `metadata` to `path` atomically.
pub fn write_tensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut values = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        values.push((name.clone(), tensor.dims().to_vec(), tensor.to_vec()?));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _, _)) = values.iter().find(|(name, _, _)| !seen.insert(name)) {
        return Err(Error::invalid(
            "write_tensors",
            format!("every tensor needs its own name, but {name} is given twice"),
        ));
    }
    let views = values
        .iter()
        .map(|(name, dims, data)| {
            safetensors::tensor::TensorView::new(
                Dtype::F32,
                dims.clone(),
                bytemuck::cast_slice(data),
            )
            .map(|view| (name.as_str(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("write_tensors", e.to_string()))?;
    let metadata = (!metadata.is_empty()).then_some(metadata);
    let bytes = safetensors::serialize(views, metadata)
        .map_err(|e| Error::invalid("write_tensors", e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads every tensor and the metadata of a safetensors file.
pub fn read_tensors(path: &Path) -> Result<TensorFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::data(path.display(), format!("could not read: {e}")))?;
    parse_tensors(&bytes).map_err(|message| Error::data(path.display(), message))
}

/// Parses the bytes of a safetensors file; the error says what is wrong.
pub fn parse_tensors(bytes: &[u8]) -> std::result::Result<TensorFile, String> {
    let malformed = |e: safetensors::SafeTensorError| format!("not a valid safetensors file: {e}");
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(malformed)?;
    let file = SafeTensors::deserialize(bytes).map_err(malformed)?;
    let tensors = file
        .iter()
        .map(|(name, view)| {
            let values = (view.dtype() == Dtype::F32).then(|| {
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            });
            let stored = StoredTensor {
                dtype: format!("{:?}", view.dtype()),
                dims: view.shape().to_vec(),
                values,
            };
            (name.to_string(), stored)
        })
        .collect();
    Ok(TensorFile {
        tensors,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}
