//! Atomic file writes: the bytes go to a temporary file beside the target, are flushed to
//! disk, and only then renamed over the target, so a crash leaves either the old file or
//! the new one in place, never half of one.

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_path(path);
    let written = write_synced(&temporary, bytes).and_then(|()| {
        fs::rename(&temporary, path).map_err(|e| {
            Error::data(
                path.display(),
                format!("could not move {} into place: {e}", temporary.display()),
            )
        })
    });
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written?;
    sync_folder(path);
    Ok(())
}

/// `<folder>/.<name>.tmp-<pid>`: beside the target (a rename never crosses file systems)
/// and unique to this process.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::data(path.display(), format!("could not write: {e}"));
    let mut file = fs::File::create(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Makes the rename itself durable where the platform allows opening a folder.
fn sync_folder(path: &Path) {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = fs::File::open(folder) {
        let _ = dir.sync_all();
    }
}
