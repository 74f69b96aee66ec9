//! MNIST: finding the four IDX files (in the folder the caller names and only there; with
//! none named, `$MNIST_DIR` then `data/mnist/`), downloading them with a progress bar and
//! MD5 checks when the search finds none, and checking everything a wrong or damaged file
//! could get wrong.

use super::idx::read_idx;
use super::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{ByteTensor, Tensor};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The four files: name, MD5 of the gzip file as published.
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    (
        "train-labels-idx1-ubyte",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),
    ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c"),
];

/// Public mirrors tried in order when the files are missing; `$WGNN_MNIST_MIRROR`
/// (a base URL) replaces them.
const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Where the files are looked for when no directory is given.
const DEFAULT_DIR: &str = "data/mnist";

/// One half of MNIST: images (count × 28 × 28 bytes) and labels (0-9).
#[derive(Clone)]
pub struct MnistSplit {
    /// Pixels, one image after another, row-major.
    pub images: Vec<u8>,
    /// Labels 0-9.
    pub labels: Vec<u8>,
    /// Rows and columns of an image (28, 28).
    pub image_dims: [usize; 2],
}

/// The training (60 000) and test (10 000) sets.
#[derive(Clone)]
pub struct Mnist {
    /// The training set.
    pub train: MnistSplit,
    /// The test set.
    pub test: MnistSplit,
    /// Where the files were found.
    pub dir: PathBuf,
}

impl MnistSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` images only.
    pub fn take(&self, n: usize) -> MnistSplit {
        let n = n.min(self.len());
        let per = self.image_dims[0] * self.image_dims[1];
        MnistSplit {
            images: self.images[..n * per].to_vec(),
            labels: self.labels[..n].to_vec(),
            image_dims: self.image_dims,
        }
    }

    /// A dataset on `device`: images stay u8 there and are scaled to [0, 1] as batches
    /// are gathered; `sample_dims` shapes each image (`[784]` for an MLP, `[1, 28, 28]` for a CNN).
    pub fn dataset(&self, sample_dims: &[usize], device: &Device) -> Result<Dataset> {
        let labels = Tensor::from_vec(
            self.labels.iter().map(|&l| l as f32).collect(),
            &[self.len()],
            device,
        )?;
        let bytes = ByteTensor::from_bytes(self.images.clone(), device)?;
        Dataset::from_bytes(bytes, sample_dims, 1.0 / 255.0, labels)
    }
}

/// `dir/name`, or `dir/name.gz`, if either exists.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// The names of the four files that `dir` lacks (in neither raw nor gzip form).
fn missing_files(dir: &Path) -> Vec<&'static str> {
    MNIST_FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| find(dir, name).is_none())
        .collect()
}

/// Where [`Mnist::load`] looks when no folder is given: `$MNIST_DIR` (when set and not
/// empty), then `data/mnist/`.
fn default_candidates() -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("MNIST_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from(DEFAULT_DIR));
    candidates
}

impl Mnist {
    /// Loads MNIST from `dir` when one is given, and from nowhere else: a folder that is
    /// missing, is a file, or lacks one of the four files is an error naming what is wrong
    /// (nothing is downloaded into a folder the caller named; [`Mnist::download`] does
    /// that on request). With no `dir`, searches `$MNIST_DIR` then `data/mnist/` and
    /// downloads into the first of them when neither holds the files ([`Mnist::search`]).
    pub fn load(dir: Option<&Path>) -> Result<Mnist> {
        match dir {
            Some(dir) => Mnist::load_from(dir),
            None => Mnist::search(&default_candidates(), &mirrors()),
        }
    }

    /// Loads MNIST from the first of `candidates` that holds all four files; when none
    /// does, downloads them into the first candidate from `mirrors` (base URLs) and loads
    /// them from there. Offline, the error lists the candidates and the files to put in
    /// one of them.
    pub fn search(candidates: &[PathBuf], mirrors: &[String]) -> Result<Mnist> {
        if let Some(found) = candidates.iter().find(|d| missing_files(d).is_empty()) {
            return Mnist::load_from(found);
        }
        let Some(target) = candidates.first() else {
            return Err(Error::invalid(
                "Mnist::search",
                "expected at least one folder to look in, got none",
            ));
        };
        match download(target, mirrors) {
            Ok(()) => Mnist::load_from(target),
            Err(why) => {
                let names: Vec<String> =
                    MNIST_FILES.iter().map(|(n, _)| format!("{n}.gz")).collect();
                let places: Vec<String> =
                    candidates.iter().map(|c| c.display().to_string()).collect();
                Err(Error::data(
                    target.display(),
                    format!(
                        "MNIST not found in {} and the download failed ({why}). Put the four files {} \
                         (gzipped or not) in one of those directories, or point --data DIR or MNIST_DIR at them.",
                        places.join(", "),
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    /// Downloads whichever of the four files `dir` lacks from the first of `mirrors` (base
    /// URLs) that serves it, checking MD5s; nothing half-written is left behind.
    pub fn download(dir: &Path, mirrors: &[String]) -> Result<()> {
        download(dir, mirrors)
            .map_err(|why| Error::data(dir.display(), format!("download failed: {why}")))
    }

    /// Loads and checks the four files in `dir`; a `dir` that does not exist, is a file,
    /// or lacks any of the four files is an error naming each one missing.
    pub fn load_from(dir: &Path) -> Result<Mnist> {
        if dir.is_file() {
            return Err(Error::data(
                dir.display(),
                "is a file, expected the folder that holds the four MNIST files",
            ));
        }
        if !dir.is_dir() {
            return Err(Error::data(
                dir.display(),
                "no such folder, expected the folder that holds the four MNIST files",
            ));
        }
        let found: [Option<PathBuf>; 4] = MNIST_FILES.map(|(name, _)| find(dir, name));
        let missing: Vec<String> = MNIST_FILES
            .iter()
            .zip(&found)
            .filter(|(_, path)| path.is_none())
            .map(|((name, _), _)| format!("{name} (or {name}.gz)"))
            .collect();
        if let [Some(images), Some(labels), Some(test_images), Some(test_labels)] = &found {
            return Ok(Mnist {
                train: load_split(images, labels)?,
                test: load_split(test_images, test_labels)?,
                dir: dir.to_path_buf(),
            });
        }
        Err(Error::data(
            dir.display(),
            format!(
                "{} missing from this folder: {}",
                if missing.len() == 1 {
                    "a file is"
                } else {
                    "files are"
                },
                missing.join(", ")
            ),
        ))
    }
}

fn load_split(images_path: &Path, labels_path: &Path) -> Result<MnistSplit> {
    let images = read_idx(images_path)?;
    let labels = read_idx(labels_path)?;
    if images.dims.len() != 3 {
        return Err(Error::data(
            images_path.display(),
            format!(
                "expected an image file (IDX rank 3: count, rows, cols), found rank {} {:?}{}",
                images.dims.len(),
                images.dims,
                if images.dims.len() == 1 {
                    " (a label file?)"
                } else {
                    ""
                }
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(Error::data(
            labels_path.display(),
            format!(
                "expected a label file (IDX rank 1: count), found rank {} {:?}{}",
                labels.dims.len(),
                labels.dims,
                if labels.dims.len() == 3 {
                    " (an image file?)"
                } else {
                    ""
                }
            ),
        ));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(Error::data(
            labels_path.display(),
            format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some(i) = labels.data.iter().position(|&l| l > 9) {
        return Err(Error::data(
            labels_path.display(),
            format!("label {i} is {}, expected 0-9", labels.data[i]),
        ));
    }
    Ok(MnistSplit {
        images: images.data,
        labels: labels.data,
        image_dims: [images.dims[1], images.dims[2]],
    })
}

/// The mirrors to try: `$WGNN_MNIST_MIRROR` if set, else the public ones.
fn mirrors() -> Vec<String> {
    match std::env::var("WGNN_MNIST_MIRROR") {
        Ok(m) if !m.is_empty() => vec![m],
        _ => MIRRORS.iter().map(|m| m.to_string()).collect(),
    }
}

/// Downloads the four gzip files into `dir`, checking each MD5; each file is written to a
/// temporary name and renamed only when complete and correct.
fn download(dir: &Path, mirrors: &[String]) -> std::result::Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, md5) in MNIST_FILES {
        if find(dir, name).is_some() {
            continue;
        }
        let file = format!("{name}.gz");
        let mut last_error = String::new();
        let fetched = mirrors.iter().find_map(|mirror| {
            let url = format!("{}/{file}", mirror.trim_end_matches('/'));
            match fetch(&url, md5) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    last_error = format!("{url}: {e}");
                    None
                }
            }
        });
        let bytes = fetched.ok_or(last_error)?;
        let tmp = dir.join(format!("{file}.part"));
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all()))
            .and_then(|_| std::fs::rename(&tmp, dir.join(&file)))
            .map_err(|e| format!("cannot write {}: {e}", dir.join(&file).display()))?;
    }
    Ok(())
}

/// GETs `url` with a progress bar and checks the body's MD5.
fn fetch(url: &str, md5: &str) -> std::result::Result<Vec<u8>, String> {
    let response = ureq::get(url).call().map_err(|e| e.to_string())?;
    let body = response.into_body();
    let bar = indicatif::ProgressBar::new(body.content_length().unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    let mut bytes = Vec::new();
    let mut reader = bar.wrap_read(body.into_reader());
    reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    bar.finish();
    let digest: String = Md5::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != md5 {
        return Err(format!(
            "MD5 {digest}, expected {md5}: the download is damaged"
        ));
    }
    Ok(bytes)
}
