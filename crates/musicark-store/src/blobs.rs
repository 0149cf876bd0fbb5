//! Content-addressed blobs: each distinct byte string is kept once, named
//! by its BLAKE3 hash.
//!
//! *Invariant*: a blob at `blobs/ab/cd/<id>` always holds exactly the bytes
//! whose BLAKE3 is `<id>`. Blobs are staged in `tmp/`, verified, fsynced and
//! renamed into place, so a crash never leaves a partial blob visible.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Result, StoreError, fsync_dir};

/// A BLAKE3 content id (64 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId(String);

impl ContentId {
    pub fn from_hash(hash: &blake3::Hash) -> ContentId {
        ContentId(hash.to_hex().to_string())
    }

    /// Parse a hex id; `None` unless it is 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<ContentId> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| ContentId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    AlreadyPresent,
}

/// Where blobs live. The filesystem today; object storage behind the same
/// trait when one machine is outgrown.
pub trait BlobStore: Send + Sync {
    fn contains(&self, id: &ContentId) -> bool;
    /// Store the bytes of `src`, which the caller has hashed to `id`.
    fn put_file(&self, id: &ContentId, src: &Path) -> Result<PutOutcome>;
    /// A local path to read the blob from.
    fn local_path(&self, id: &ContentId) -> PathBuf;
}

pub struct FsBlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: PathBuf, tmp: PathBuf) -> FsBlobStore {
        FsBlobStore { root, tmp }
    }

    /// Remove staging files left by a process that died mid-copy. Call only
    /// while holding the archive's write lock.
    pub fn clean_staging(&self) -> Result<usize> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(&self.tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&self.tmp, e)),
        };
        for entry in entries.flatten() {
            if std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl BlobStore for FsBlobStore {
    fn contains(&self, id: &ContentId) -> bool {
        self.local_path(id).is_file()
    }

    fn local_path(&self, id: &ContentId) -> PathBuf {
        let s = id.as_str();
        self.root.join(&s[0..2]).join(&s[2..4]).join(s)
    }

    fn put_file(&self, id: &ContentId, src: &Path) -> Result<PutOutcome> {
        let dest = self.local_path(id);
        if dest.is_file() {
            return Ok(PutOutcome::AlreadyPresent);
        }
        let dir = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        std::fs::create_dir_all(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
        let tmp = self.tmp.join(format!(
            "{}.{}.{:?}",
            id,
            std::process::id(),
            std::thread::current().id()
        ));
        let result = (|| {
            std::fs::copy(src, &tmp).map_err(|e| StoreError::io(src, e))?;
            // Verify what landed: the source may have changed since the
            // caller hashed it, and a blob must never lie about its name.
            let actual = hash_file(&tmp)?;
            if actual != *id {
                return Err(StoreError::BlobMismatch {
                    id: id.to_string(),
                    actual: actual.to_string(),
                });
            }
            let f = std::fs::File::open(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            let mut perms = f
                .metadata()
                .map_err(|e| StoreError::io(&tmp, e))?
                .permissions();
            perms.set_readonly(true);
            std::fs::set_permissions(&tmp, perms).map_err(|e| StoreError::io(&tmp, e))?;
            f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
            fsync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| PutOutcome::Stored)
    }
}

fn hash_file(path: &Path) -> Result<ContentId> {
    let mut f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(ContentId::from_hash(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_bytes_are_stored_once_and_mismatches_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path().join("blobs"), dir.path().join("tmp"));
        let src = dir.path().join("a.bin");
        std::fs::write(&src, b"some music").expect("write");
        let id = ContentId::from_hash(&blake3::hash(b"some music"));
        assert_eq!(store.put_file(&id, &src).expect("put"), PutOutcome::Stored);
        assert_eq!(
            store.put_file(&id, &src).expect("put again"),
            PutOutcome::AlreadyPresent
        );
        assert_eq!(
            std::fs::read(store.local_path(&id)).expect("read"),
            b"some music"
        );

        let wrong = ContentId::from_hash(&blake3::hash(b"other"));
        assert!(matches!(
            store.put_file(&wrong, &src),
            Err(StoreError::BlobMismatch { .. })
        ));
        assert!(!store.contains(&wrong));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }

    #[test]
    fn content_ids_parse_strictly() {
        assert!(ContentId::parse(&"a".repeat(64)).is_some());
        assert!(ContentId::parse(&"A".repeat(64)).is_none());
        assert!(ContentId::parse("abc").is_none());
    }
}
