//! Blobs in S3-compatible object storage (`blobs = "s3://bucket/prefix"`
//! in `musicark.toml`), through Apache Arrow's `object_store`.
//!
//! The same promise as the filesystem store: an object exists under a
//! blob's key only once it holds exactly the bytes that hash to its id.
//! - Small files go up in one PUT, large ones in a multipart upload. Both
//!   become visible whole or not at all, so a killed upload leaves no
//!   object (an abandoned multipart upload is no object; the bucket's
//!   lifecycle rule or `abort` clears its parts).
//! - The bytes are hashed (BLAKE3) as they are read and sent. A multipart
//!   upload whose bytes do not hash to the id is aborted before it
//!   completes; a small file is checked before its PUT starts.
//! - Every request body is signed with its SHA-256 (SigV4), which the
//!   server checks, and carries `x-amz-checksum-sha256`, which it checks
//!   and keeps: what it stored is what was hashed.
//!
//! Credentials come from the standard AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
//! the endpoint and region from `[s3]` in `musicark.toml` or
//! `AWS_ENDPOINT_URL` / `AWS_REGION`.
//!
//! The rest of musicark is synchronous: calls block on a small runtime
//! this store owns.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::blobs::{BlobStore, ContentId, PutOutcome, hash_reader};
use crate::{Result, StoreError, fsync_dir};

/// Files up to this size go up in one PUT; larger ones in parts of it.
const PART: usize = 16 << 20;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// `s3://bucket/prefix`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Option<S3Url> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let ok_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let ok_prefix = !prefix
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
            || prefix.is_empty();
        (ok_bucket && ok_prefix).then(|| S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A runtime dropped without blocking: a store may be dropped on an
/// async task (the web server's state).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match &self.0 {
            Some(rt) => rt.block_on(f),
            None => unreachable!("the runtime lives as long as its store"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub struct S3BlobStore {
    url: S3Url,
    store: Arc<dyn ObjectStore>,
    rt: Arc<Runtime>,
    /// Local copies for tools that read files (see `local_copy`).
    cache: PathBuf,
    /// Staging for those copies.
    tmp: PathBuf,
}

impl S3BlobStore {
    /// A store over `url`, reached at `endpoint` (or the AWS environment's)
    /// in `region`; local copies are kept under `cache`, staged in `tmp`.
    pub fn new(
        url: &S3Url,
        endpoint: Option<&str>,
        region: Option<&str>,
        cache: PathBuf,
        tmp: PathBuf,
    ) -> Result<S3BlobStore> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_checksum_algorithm(Checksum::SHA256);
        let endpoint = endpoint
            .map(String::from)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = &endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = region {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|e| StoreError::Object {
            location: url.to_string(),
            message: e.to_string(),
        })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("musicark-s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::io(Path::new("tokio runtime"), e))?;
        Ok(S3BlobStore {
            url: url.clone(),
            store: Arc::new(store),
            rt: Arc::new(Runtime(Some(rt))),
            cache,
            tmp,
        })
    }

    fn key(&self, dir: &str, name: &str) -> Key {
        let mut key = String::new();
        if !self.url.prefix.is_empty() {
            key.push_str(&self.url.prefix);
            key.push('/');
        }
        key.push_str(dir);
        key.push('/');
        key.push_str(name);
        // The key as written, brackets and spaces included (a pack's
        // paths, which a web seed's URL names), unless it is no key.
        Key::parse(&key).unwrap_or_else(|_| Key::from(key))
    }

    fn blob_key(&self, id: &ContentId) -> Key {
        let s = id.as_str();
        self.key("blobs", &format!("{}/{}/{s}", &s[0..2], &s[2..4]))
    }

    /// The object at `key` from `offset`, as a blocking reader.
    fn get(&self, key: &Key, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let options = object_store::GetOptions {
            range: (offset > 0).then_some(object_store::GetRange::Offset(offset)),
            ..Default::default()
        };
        match self.rt.block_on(self.store.get_opts(key, options)) {
            Ok(got) => Ok(Box::new(StreamReader {
                rt: self.rt.clone(),
                stream: got.into_stream(),
                chunk: Bytes::new(),
            })),
            Err(object_store::Error::NotFound { .. }) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no object {key}", self.url),
            )),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    fn error(&self, e: object_store::Error) -> StoreError {
        let mut message = e.to_string();
        // With no credentials in the environment, the client asks the
        // cloud's instance metadata service, which a self-hosted store's
        // machine does not have: say what is missing instead.
        if message.contains("169.254.169.254") {
            message = "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                       (or run where an instance role provides them)"
                .into();
        }
        StoreError::Object {
            location: self.url.to_string(),
            message,
        }
    }

    fn put_small(&self, id: &ContentId, src: &Path, key: &Key) -> Result<()> {
        let mut file = std::fs::File::open(src).map_err(|e| source_error(src, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| source_error(src, e))?;
        let actual = ContentId::from_hash(&blake3::hash(&bytes));
        if actual != *id {
            return Err(StoreError::BlobMismatch {
                id: id.to_string(),
                actual: actual.to_string(),
            });
        }
        self.rt
            .block_on(self.store.put(key, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Upload `src` to `key` in parts; with `id`, only if its bytes hash
    /// to it (the upload is aborted before it completes otherwise).
    fn put_large(&self, id: Option<&ContentId>, src: &Path, key: &Key) -> Result<()> {
        let mut file = std::fs::File::open(src).map_err(|e| source_error(src, e))?;
        self.rt.block_on(async {
            let upload = self
                .store
                .put_multipart(key)
                .await
                .map_err(|e| self.error(e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; PART];
            let sent: Result<()> = async {
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(source_error(src, e)),
                    };
                    hasher.update(&buf[..n]);
                    writer
                        .wait_for_capacity(PARTS_IN_FLIGHT)
                        .await
                        .map_err(|e| self.error(e))?;
                    writer.write(&buf[..n]);
                }
                Ok(())
            }
            .await;
            let actual = ContentId::from_hash(&hasher.finalize());
            match sent {
                Ok(()) if id.is_none_or(|id| actual == *id) => {
                    writer.finish().await.map_err(|e| self.error(e))?;
                    Ok(())
                }
                Ok(()) => {
                    let _ = writer.abort().await;
                    Err(StoreError::BlobMismatch {
                        id: id.map(ToString::to_string).unwrap_or_default(),
                        actual: actual.to_string(),
                    })
                }
                Err(e) => {
                    let _ = writer.abort().await;
                    Err(e)
                }
            }
        })
    }
}

/// An error reading the source: the item's fault, not the store's.
fn source_error(src: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: src.to_path_buf(),
        source,
    }
}

impl BlobStore for S3BlobStore {
    fn location(&self) -> String {
        self.url.to_string()
    }

    fn contains(&self, id: &ContentId) -> Result<bool> {
        match self.rt.block_on(self.store.head(&self.blob_key(id))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    fn put_file(&self, id: &ContentId, src: &Path) -> Result<PutOutcome> {
        if self.contains(id)? {
            return Ok(PutOutcome::AlreadyPresent);
        }
        let key = self.blob_key(id);
        let len = std::fs::metadata(src)
            .map_err(|e| source_error(src, e))?
            .len();
        if len <= PART as u64 {
            self.put_small(id, src, &key)?;
        } else {
            self.put_large(Some(id), src, &key)?;
        }
        Ok(PutOutcome::Stored)
    }

    fn open(&self, id: &ContentId) -> std::io::Result<Box<dyn Read + Send>> {
        self.open_at(id, 0)
    }

    fn open_at(&self, id: &ContentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        self.get(&self.blob_key(id), offset)
    }

    fn open_laid_out(&self, path: &str, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        self.get(&self.key("packs", path), offset)
    }

    fn local_path(&self, id: &ContentId) -> PathBuf {
        let s = id.as_str();
        self.cache.join(&s[0..2]).join(&s[2..4]).join(s)
    }

    fn local_copy(&self, id: &ContentId) -> Result<PathBuf> {
        let dest = self.local_path(id);
        if dest.is_file() {
            return Ok(dest);
        }
        let dir = dest.parent().unwrap_or(&self.cache);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        std::fs::create_dir_all(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
        let tmp = self.tmp.join(format!(
            "{id}.{}.{:?}.fetch",
            std::process::id(),
            std::thread::current().id()
        ));
        let at = PathBuf::from(format!("{}/{id}", self.url));
        let result = (|| {
            let reader = self.open(id).map_err(|e| StoreError::io(&at, e))?;
            let mut file = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
            let mut tee = Tee {
                inner: reader,
                out: &mut file,
                failed: None,
            };
            let (actual, _) = hash_reader(&mut tee).map_err(|e| match tee.failed.take() {
                Some(w) => StoreError::io(&tmp, w),
                None => StoreError::io(&at, e),
            })?;
            if actual != *id {
                return Err(StoreError::Rotten {
                    location: at.display().to_string(),
                    actual: actual.to_string(),
                });
            }
            file.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io(&dest, e))?;
            fsync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| dest)
    }

    fn release_local(&self, id: &ContentId) {
        let _ = std::fs::remove_file(self.local_path(id));
    }

    fn is_local(&self) -> bool {
        false
    }

    fn quarantine(&self, id: &ContentId) -> Result<Option<String>> {
        let from = self.blob_key(id);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let to = self.key("quarantine", &format!("{id}.{nanos}"));
        match self.rt.block_on(self.store.copy(&from, &to)) {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        }
        self.rt
            .block_on(self.store.delete(&from))
            .map_err(|e| self.error(e))?;
        self.release_local(id);
        Ok(Some(format!("s3://{}/{to}", self.url.bucket)))
    }

    fn lay_out(&self, id: &ContentId, path: &str) -> Result<()> {
        let to = self.key("packs", path);
        self.rt
            .block_on(self.store.copy(&self.blob_key(id), &to))
            .map_err(|e| self.error(e))
    }

    fn withdraw(&self, name: &str) -> Result<usize> {
        use futures_util::TryStreamExt;
        let under = self.key("packs", name);
        self.rt.block_on(async {
            let objects: Vec<_> = self
                .store
                .list(Some(&under))
                .try_collect()
                .await
                .map_err(|e| self.error(e))?;
            for o in &objects {
                self.store
                    .delete(&o.location)
                    .await
                    .map_err(|e| self.error(e))?;
            }
            Ok(objects.len())
        })
    }

    fn lay_out_file(&self, path: &str, src: &Path) -> Result<()> {
        let key = self.key("packs", path);
        let len = std::fs::metadata(src)
            .map_err(|e| StoreError::io(src, e))?
            .len();
        if len > PART as u64 {
            return self.put_large(None, src, &key);
        }
        let bytes = std::fs::read(src).map_err(|e| StoreError::io(src, e))?;
        self.rt
            .block_on(self.store.put(&key, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn clean_staging(&self) -> Result<usize> {
        // Local copies a killed process was fetching; the cache itself is
        // only ever whole copies.
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(&self.tmp) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_str().is_some_and(|n| n.ends_with(".fetch"))
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// A GET's body as a blocking reader.
struct StreamReader {
    rt: Arc<Runtime>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(bytes)) => self.chunk = bytes,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// Reads `inner`, writing what it read to `out`; a write error is kept
/// apart (a full local disk is not the store's fault).
struct Tee<'a, R, W> {
    inner: R,
    out: &'a mut W,
    failed: Option<std::io::Error>,
}

impl<R: Read, W: std::io::Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let kind = e.kind();
            self.failed = Some(e);
            return Err(std::io::Error::new(kind, "writing the local copy failed"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_parse_strictly() {
        assert_eq!(
            S3Url::parse("s3://music-archive/eu/one"),
            Some(S3Url {
                bucket: "music-archive".into(),
                prefix: "eu/one".into()
            })
        );
        assert_eq!(
            S3Url::parse("s3://bucket").map(|u| u.to_string()),
            Some("s3://bucket".into())
        );
        assert!(S3Url::parse("s3://Bucket/x").is_none());
        assert!(S3Url::parse("s3://bucket/a/../b").is_none());
        assert!(S3Url::parse("http://bucket/x").is_none());
    }
}
