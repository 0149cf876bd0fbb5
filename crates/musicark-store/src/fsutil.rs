//! Crash-safe file writing: a file appears whole or not at all.

use std::io::Write;
use std::path::Path;

use crate::{Result, StoreError};

/// Write `bytes` to `path` atomically: a temporary file beside it, fsync,
/// rename over `path`, fsync the directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    fsync_dir(dir)
}

/// Write `bytes` to a new file at `path` and fsync it (no rename: for
/// callers that stage several files and then rename them together).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| StoreError::io(path, e))
}

/// fsync a directory, so that a rename into it survives a crash.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}
