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

/// Where blobs live: the archive's own directory ([`FsBlobStore`], the
/// default) or an S3-compatible bucket ([`crate::S3BlobStore`]). Both keep
/// the same promise: a blob is visible under its id only once it holds
/// exactly the bytes that hash to that id.
pub trait BlobStore: Send + Sync {
    /// Where the blobs are, for messages: a directory or `s3://bucket/prefix`.
    fn location(&self) -> String;
    /// Whether the store holds a blob named `id` (its bytes unchecked).
    fn contains(&self, id: &ContentId) -> Result<bool>;
    /// Store the bytes of `src`, which the caller has hashed to `id`.
    /// What is stored is hashed again as it is copied: a source that
    /// changed meanwhile stores nothing ([`StoreError::BlobMismatch`]).
    fn put_file(&self, id: &ContentId, src: &Path) -> Result<PutOutcome>;
    /// The blob's bytes, streamed; an error of kind `NotFound` when the
    /// store holds no such blob.
    fn open(&self, id: &ContentId) -> std::io::Result<Box<dyn Read + Send>>;
    /// The blob's bytes from `offset` to its end, streamed.
    fn open_at(&self, id: &ContentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>>;
    /// The local file [`BlobStore::local_copy`] gives for `id`, without
    /// fetching anything: the blob itself on a filesystem store.
    fn local_path(&self, id: &ContentId) -> PathBuf;
    /// A local file holding the blob's bytes, for tools that read files
    /// (the encoder, hard links into packs): the blob itself on a
    /// filesystem store; on object storage a copy fetched into the
    /// archive's cache, verified against `id`. Give it back with
    /// [`BlobStore::release_local`].
    fn local_copy(&self, id: &ContentId) -> Result<PathBuf>;
    /// Done with a [`BlobStore::local_copy`]: object storage drops the
    /// cached copy; a filesystem store has nothing to do.
    fn release_local(&self, _id: &ContentId) {}
    /// Whether blobs are files in this archive's own filesystem (so that
    /// packs can hard-link them).
    fn is_local(&self) -> bool;
    /// Move a blob whose bytes do not hash to its name out of the store
    /// (kept for inspection, never deleted); where it went, or `None`
    /// when there was no such blob.
    fn quarantine(&self, id: &ContentId) -> Result<Option<String>>;
    /// Remove what a killed writer left in staging. Call while holding
    /// the archive's write lock.
    fn clean_staging(&self) -> Result<usize> {
        Ok(0)
    }
    /// Lay a published pack's file out beside the blobs, at `packs/PATH`
    /// (`PATH` = `NAME/…`): in object storage a server-side copy of the
    /// blob `id` (no byte through this machine), so that the bucket
    /// serves the pack's paths as a web seed. A filesystem store has
    /// nothing to do (its packs are hard links in `packs/`).
    fn lay_out(&self, _id: &ContentId, _path: &str) -> Result<()> {
        Ok(())
    }
    /// [`BlobStore::lay_out`] for a pack's file that is no blob (its
    /// manifest): uploaded from `src`.
    fn lay_out_file(&self, _path: &str, _src: &Path) -> Result<()> {
        Ok(())
    }
    /// Remove what [`BlobStore::lay_out`] laid out of the pack `name`
    /// (made obsolete); how many objects went.
    fn withdraw(&self, _name: &str) -> Result<usize> {
        Ok(0)
    }
    /// A laid-out pack file's bytes from `offset` (`packs/PATH` in object
    /// storage); a filesystem store lays nothing out (`NotFound`).
    fn open_laid_out(&self, path: &str, _offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{path}: not laid out beside the blobs"),
        ))
    }
}

/// A blob's [`BlobStore::local_copy`], given back to its store when
/// dropped (object storage then drops the cached file).
pub struct LocalCopy<'a> {
    store: &'a dyn BlobStore,
    id: ContentId,
    pub path: PathBuf,
}

impl<'a> LocalCopy<'a> {
    pub fn new(store: &'a dyn BlobStore, id: &ContentId) -> Result<LocalCopy<'a>> {
        Ok(LocalCopy {
            path: store.local_copy(id)?,
            store,
            id: id.clone(),
        })
    }
}

impl Drop for LocalCopy<'_> {
    fn drop(&mut self) {
        self.store.release_local(&self.id);
    }
}

/// What [`repair_from`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The blob was there and whole: nothing done.
    Intact,
    /// The blob was missing: stored from the source.
    Restored,
    /// The blob's bytes were wrong: moved to the quarantine (the place
    /// named here), then stored again from the source.
    Replaced { quarantined: String },
}

/// Make the blob `id` whole from `src`, whose bytes the caller hashed to
/// `id`. Good bytes are never overwritten: a whole blob is left alone,
/// and a bad one is quarantined only once `src` is known to hash right
/// (`put_file` verifies what it copied before the rename).
pub fn repair_from(store: &dyn BlobStore, id: &ContentId, src: &Path) -> Result<Repair> {
    if !store.contains(id)? {
        store.put_file(id, src)?;
        return Ok(Repair::Restored);
    }
    if blob_is_intact(store, id)? {
        return Ok(Repair::Intact);
    }
    let actual = hash_file(src)?;
    if actual != *id {
        return Err(StoreError::BlobMismatch {
            id: id.to_string(),
            actual: actual.to_string(),
        });
    }
    let quarantined = store.quarantine(id)?.unwrap_or_default();
    store.put_file(id, src)?;
    Ok(Repair::Replaced { quarantined })
}

pub struct FsBlobStore {
    root: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
}

impl FsBlobStore {
    /// Blobs under `root`, staged in `tmp`; bad blobs are moved to
    /// `quarantine` beside `root`.
    pub fn new(root: PathBuf, tmp: PathBuf) -> FsBlobStore {
        let quarantine = root
            .parent()
            .map_or_else(|| PathBuf::from("quarantine"), |p| p.join("quarantine"));
        FsBlobStore {
            root,
            tmp,
            quarantine,
        }
    }
}

impl BlobStore for FsBlobStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn contains(&self, id: &ContentId) -> Result<bool> {
        Ok(self.local_path(id).is_file())
    }

    fn open(&self, id: &ContentId) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self.local_path(id))?))
    }

    fn open_at(&self, id: &ContentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        use std::io::Seek;
        let mut f = std::fs::File::open(self.local_path(id))?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        Ok(Box::new(f))
    }

    fn local_copy(&self, id: &ContentId) -> Result<PathBuf> {
        Ok(self.local_path(id))
    }

    fn is_local(&self) -> bool {
        true
    }

    /// Remove staging files left by a process that died mid-copy (a
    /// file's name carries the process id that wrote it: those of live
    /// processes, writers beside this one, are left). Call while holding
    /// the archive's write lock.
    fn clean_staging(&self) -> Result<usize> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(&self.tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&self.tmp, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let writer = name
                .to_str()
                .and_then(|n| n.trim_start_matches('.').split('.').nth(1))
                .and_then(|pid| pid.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw);
            // This process stages nothing yet when it cleans up.
            let alive = writer.is_some_and(|pid| {
                pid != rustix::process::getpid()
                    && !matches!(
                        rustix::process::test_kill_process(pid),
                        Err(rustix::io::Errno::SRCH)
                    )
            });
            if !alive && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn local_path(&self, id: &ContentId) -> PathBuf {
        let s = id.as_str();
        self.root.join(&s[0..2]).join(&s[2..4]).join(s)
    }

    fn quarantine(&self, id: &ContentId) -> Result<Option<String>> {
        let from = self.local_path(id);
        if !from.is_file() {
            return Ok(None);
        }
        std::fs::create_dir_all(&self.quarantine)
            .map_err(|e| StoreError::io(&self.quarantine, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let to = self.quarantine.join(format!("{id}.{nanos}"));
        std::fs::rename(&from, &to).map_err(|e| StoreError::io(&from, e))?;
        fsync_dir(&self.quarantine)?;
        if let Some(dir) = from.parent() {
            fsync_dir(dir)?;
        }
        Ok(Some(to.display().to_string()))
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
            copy_into(src, &tmp)?;
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

/// Copy `src` to the new file `dest`, naming the side that failed: a
/// source that vanished is the source's fault, a full disk is the store's
/// (and stops the command).
fn copy_into(src: &Path, dest: &Path) -> Result<()> {
    use std::io::Write;
    let mut from = std::fs::File::open(src).map_err(|e| StoreError::Io {
        path: src.to_path_buf(),
        source: e,
    })?;
    let mut to = std::fs::File::create(dest).map_err(|e| StoreError::io(dest, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StoreError::Io {
                    path: src.to_path_buf(),
                    source: e,
                });
            }
        };
        to.write_all(&buf[..n])
            .map_err(|e| StoreError::io(dest, e))?;
    }
    to.flush().map_err(|e| StoreError::io(dest, e))
}

/// Whether the blob `id` holds bytes that hash to `id`.
/// Whether the blob `id` holds bytes that hash to `id`.
pub fn blob_is_intact(store: &dyn BlobStore, id: &ContentId) -> Result<bool> {
    let at = || PathBuf::from(format!("{}/{id}", store.location()));
    let reader = store.open(id).map_err(|e| StoreError::io(&at(), e))?;
    let (actual, _) = hash_reader(reader).map_err(|e| StoreError::io(&at(), e))?;
    Ok(actual == *id)
}

/// BLAKE3 and length of everything `reader` gives.
pub fn hash_reader(mut reader: impl Read) -> std::io::Result<(ContentId, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((ContentId::from_hash(&hasher.finalize()), len))
}

pub(crate) fn hash_file(path: &Path) -> Result<ContentId> {
    let f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    Ok(hash_reader(f).map_err(|e| StoreError::io(path, e))?.0)
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
        assert!(!store.contains(&wrong).expect("head"));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }

    #[test]
    fn a_rotten_blob_is_quarantined_and_restored_from_a_good_source_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path().join("blobs"), dir.path().join("tmp"));
        let src = dir.path().join("a.bin");
        std::fs::write(&src, b"some music").expect("write");
        let id = ContentId::from_hash(&blake3::hash(b"some music"));
        store.put_file(&id, &src).expect("put");
        assert_eq!(
            repair_from(&store, &id, &src).expect("intact"),
            Repair::Intact
        );
        // Bit rot: same size, one byte changed.
        let blob = store.local_path(&id);
        let mut perms = std::fs::metadata(&blob).expect("meta").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&blob, perms).expect("chmod");
        std::fs::write(&blob, b"some musiC").expect("rot");
        assert!(!blob_is_intact(&store, &id).expect("check"));
        // A source that does not hash right repairs nothing.
        let bad = dir.path().join("b.bin");
        std::fs::write(&bad, b"other").expect("write");
        assert!(repair_from(&store, &id, &bad).is_err());
        assert_eq!(std::fs::read(&blob).expect("read"), b"some musiC");
        // A good one does, and the bad bytes are kept aside.
        let Repair::Replaced { quarantined } = repair_from(&store, &id, &src).expect("repair")
        else {
            panic!("not replaced")
        };
        assert_eq!(std::fs::read(&quarantined).expect("q"), b"some musiC");
        assert_eq!(std::fs::read(&blob).expect("read"), b"some music");
    }

    #[test]
    fn content_ids_parse_strictly() {
        assert!(ContentId::parse(&"a".repeat(64)).is_some());
        assert!(ContentId::parse(&"A".repeat(64)).is_none());
        assert!(ContentId::parse("abc").is_none());
    }
}
