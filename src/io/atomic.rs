//! Atomic file writes: the bytes go to a temporary file beside the target, are flushed to
//! disk, and only then renamed over the target, so a crash leaves either the old file or
//! the new one in place, never half of one. A writer killed mid-write leaves its
//! temporary file; the next write to the same target removes it (on Linux, where a dead
//! process can be told from a live one through /proc).

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    remove_stale_temporaries(path);
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

/// `.<name>.tmp-`: how the temporary files of `path` begin.
fn temporary_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    format!(".{name}.tmp-")
}

/// `<folder>/.<name>.tmp-<pid>`: beside the target (a rename never crosses file systems)
/// and unique to this process.
fn temporary_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}{}", temporary_prefix(path), std::process::id()))
}

/// Removes the temporary files of `path` whose writing process no longer exists.
fn remove_stale_temporaries(path: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = fs::read_dir(folder_of(path)) else {
        return;
    };
    let prefix = temporary_prefix(path);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        let dead = pid.is_some_and(|pid| {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        });
        if dead {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::data(path.display(), format!("could not write: {e}"));
    let mut file = fs::File::create(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Makes the rename itself durable where the platform allows opening a folder.
fn sync_folder(path: &Path) {
    if let Ok(dir) = fs::File::open(folder_of(path)) {
        let _ = dir.sync_all();
    }
}
