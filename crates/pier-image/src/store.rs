//! The content store: an OCI image layout (image-spec `image-layout.md`)
//! under pier's root, so `skopeo inspect oci:ROOT:NAME` and `umoci` read it.
//!
//! ```text
//! oci-layout            {"imageLayoutVersion": "1.0.0"}
//! index.json            one manifest descriptor per local name, named by the
//!                       annotation org.opencontainers.image.ref.name
//! blobs/sha256/<hex>    content, always matching its name
//! ingest/               temp files of blobs being written (renamed into
//!                       blobs/ only after the size and digest checks)
//! index.lock, gc.lock   flock(2) files: index.json read-modify-write, and
//!                       pulls (shared) against garbage collection (exclusive)
//! ```

use crate::digest::{sha256_hex, HashWriter};
use oci_spec::image::{Descriptor, MediaType, ANNOTATION_REF_NAME};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// containerd's annotation for the full image name (it puts only the tag in
/// `ref.name`; we put the full name in both).
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// an I/O call failed on a path
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// reading the content of a blob failed (the source, not the store)
    #[error("failed to read the content being stored in {into}: {source}")]
    Read {
        /// The temporary file it was going to.
        into: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// a blob's content does not match its digest
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// From the descriptor.
        expected: String,
        /// Of the bytes received.
        actual: String,
    },
    /// a blob's size does not match its descriptor
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: String,
        /// From the descriptor.
        expected: u64,
        /// Received (at most expected + 1: reading stops there).
        actual: u64,
    },
    /// not a sha256 digest
    #[error("unsupported or invalid digest {0:?}")]
    BadDigest(String),
    /// a JSON file of the store is invalid
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// no image by that name or id
    #[error("no such image: {0}")]
    NoSuchImage(String),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// An image named in index.json.
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// The full normalised name (`docker.io/library/busybox:latest`).
    pub name: String,
    /// The manifest (or index) descriptor.
    pub descriptor: Descriptor,
}

/// What garbage collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    /// Blobs removed.
    pub blobs: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// A held flock(2); released on drop (close).
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

/// The content store at a root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens the store at `root`, creating the layout if missing. The root is
    /// 0700: unpacked layers may hold setuid files and device nodes that
    /// other host users must not reach.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in [root.clone(), root.join("blobs/sha256"), root.join("ingest")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io_err("create", &dir))?;
        }
        let store = Store { root };
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = store.root.join("index.json");
        if !index.exists() {
            let _l = store.lock("index.lock", true)?;
            if !index.exists() {
                store.write_atomic(
                    &index,
                    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                )?;
            }
        }
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the lock file `name` under the root, shared or exclusive.
    pub fn lock(&self, name: &str, exclusive: bool) -> Result<Lock> {
        // A blocking flock(2) only returns once it holds the lock.
        self.lock_op(name, exclusive, false)?
            .ok_or_else(|| unreachable_lock(name))
    }

    /// Takes the lock `name` exclusively if nobody holds it; None if
    /// someone does.
    pub fn try_lock(&self, name: &str) -> Result<Option<Lock>> {
        self.lock_op(name, true, true)
    }

    fn lock_op(&self, name: &str, exclusive: bool, nonblock: bool) -> Result<Option<Lock>> {
        let path = self.root.join(name);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let mut op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        if nonblock {
            op |= libc::LOCK_NB;
        }
        loop {
            // SAFETY: flock on an fd we own; no memory is passed.
            let r = unsafe { libc::flock(f.as_raw_fd(), op) };
            if r == 0 {
                return Ok(Some(Lock(f)));
            }
            let e = io::Error::last_os_error();
            if nonblock && e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Io {
                    op: "lock",
                    path,
                    source: e,
                });
            }
        }
    }

    /// Held by a pull or a push while it writes blobs that index.json does
    /// not yet reference, so that garbage collection waits.
    pub fn lock_content(&self) -> Result<Lock> {
        self.lock("gc.lock", false)
    }

    /// The path of blob `digest`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| Error::BadDigest(digest.to_string()))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Whether blob `digest` is present with `size` bytes.
    pub fn has_blob(&self, digest: &str, size: u64) -> bool {
        self.blob_path(digest)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.is_file() && m.len() == size)
    }

    /// Streams `reader` into the store. With `expected` (digest, size), the
    /// reading stops at size + 1 bytes and the blob is refused unless both
    /// match; nothing is left in blobs/ then. Returns digest and size.
    pub fn write_blob(
        &self,
        reader: impl Read,
        expected: Option<(&str, u64)>,
    ) -> Result<(String, u64)> {
        if let Some((d, _)) = expected {
            self.blob_path(d)?;
        }
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("ingest")
            .join(format!("{}-{}", std::process::id(), seq));
        let result = self.write_tmp(&tmp, reader, expected);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_tmp(
        &self,
        tmp: &Path,
        reader: impl Read,
        expected: Option<(&str, u64)>,
    ) -> Result<(String, u64)> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .map_err(io_err("create", tmp))?;
        let mut w = HashWriter::new(io::BufWriter::new(file));
        let limit = expected.map_or(u64::MAX, |(_, s)| s.saturating_add(1));
        // Not io::copy: a failed read (the registry went away) and a failed
        // write (a full disk) are different errors.
        let mut reader = reader.take(limit);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Read {
                        into: tmp.to_path_buf(),
                        source: e,
                    })
                }
            };
            w.write_all(&chunk[..n]).map_err(io_err("write", tmp))?;
        }
        let (digest, size, buf) = w.finish();
        let file = buf.into_inner().map_err(|e| Error::Io {
            op: "write",
            path: tmp.to_path_buf(),
            source: e.into_error(),
        })?;
        if let Some((exp_digest, exp_size)) = expected {
            if size != exp_size {
                return Err(Error::SizeMismatch {
                    digest: exp_digest.to_string(),
                    expected: exp_size,
                    actual: size,
                });
            }
            if digest != exp_digest {
                return Err(Error::DigestMismatch {
                    expected: exp_digest.to_string(),
                    actual: digest,
                });
            }
        }
        file.sync_all().map_err(io_err("sync", tmp))?;
        let dst = self.blob_path(&digest)?;
        fs::rename(tmp, &dst).map_err(io_err("rename into place", &dst))?;
        Ok((digest, size))
    }

    /// Stores `data`, returning its digest.
    pub fn put_bytes(&self, data: &[u8]) -> Result<String> {
        Ok(self.write_blob(data, None)?.0)
    }

    /// Reads a whole blob (manifests, configs).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(io_err("read", &p))
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let p = self.blob_path(digest)?;
        File::open(&p).map_err(io_err("open", &p))
    }

    fn read_index(&self) -> Result<Value> {
        let p = self.root.join("index.json");
        let data = fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&data).map_err(|source| Error::Json { path: p, source })
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp-{}-{}", std::process::id(), seq));
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(data).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    }

    /// Every named image in index.json.
    pub fn images(&self) -> Result<Vec<ImageRef>> {
        let index = self.read_index()?;
        let mut out = Vec::new();
        for m in index["manifests"].as_array().into_iter().flatten() {
            let Ok(descriptor) = serde_json::from_value::<Descriptor>(m.clone()) else {
                continue;
            };
            let name = descriptor
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .cloned();
            if let Some(name) = name {
                out.push(ImageRef { name, descriptor });
            }
        }
        Ok(out)
    }

    /// Finds an image by full name.
    pub fn get(&self, name: &str) -> Result<ImageRef> {
        self.images()?
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| Error::NoSuchImage(name.to_string()))
    }

    /// Points `name` at `descriptor` (replacing what it named before).
    pub fn set_ref(&self, name: &str, descriptor: &Descriptor) -> Result<()> {
        let _l = self.lock("index.lock", true)?;
        let mut index = self.read_index()?;
        let mut d = serde_json::to_value(descriptor).map_err(|source| Error::Json {
            path: self.root.join("index.json"),
            source,
        })?;
        let ann = d
            .as_object_mut()
            .map(|o| o.entry("annotations").or_insert_with(|| json!({})));
        if let Some(Value::Object(a)) = ann {
            a.insert(ANNOTATION_REF_NAME.into(), name.into());
            a.insert(ANNOTATION_CONTAINERD_NAME.into(), name.into());
        }
        let list = manifests_mut(&mut index);
        list.retain(|m| ref_name(m) != Some(name));
        list.push(d);
        self.write_index(&index)
    }

    /// Removes the names for which `pred` holds; returns them.
    pub fn remove_refs(&self, pred: impl Fn(&ImageRef) -> bool) -> Result<Vec<ImageRef>> {
        let _l = self.lock("index.lock", true)?;
        let mut index = self.read_index()?;
        let mut removed = Vec::new();
        manifests_mut(&mut index).retain(|m| {
            let Some(name) = ref_name(m) else {
                return true;
            };
            let Ok(descriptor) = serde_json::from_value::<Descriptor>(m.clone()) else {
                return true;
            };
            let r = ImageRef {
                name: name.to_string(),
                descriptor,
            };
            if pred(&r) {
                removed.push(r);
                false
            } else {
                true
            }
        });
        self.write_index(&index)?;
        Ok(removed)
    }

    fn write_index(&self, index: &Value) -> Result<()> {
        let p = self.root.join("index.json");
        let data = serde_json::to_vec(index).map_err(|source| Error::Json {
            path: p.clone(),
            source,
        })?;
        self.write_atomic(&p, &data)
    }

    /// Removes every blob not reachable from index.json, and stale temp
    /// files. Waits for running pulls (they hold the content lock shared).
    pub fn gc(&self) -> Result<GcStats> {
        let _g = self.lock("gc.lock", true)?;
        let _i = self.lock("index.lock", true)?;
        let live = self.live()?;
        let mut stats = GcStats::default();
        let dir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let e = e.map_err(io_err("read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if live.contains(&format!("sha256:{name}")) {
                continue;
            }
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(e.path()).map_err(io_err("remove", &e.path()))?;
            stats.blobs += 1;
            stats.bytes += len;
        }
        // Nobody writes while we hold gc.lock exclusively: leftovers are
        // from killed pulls.
        let ingest = self.root.join("ingest");
        for e in fs::read_dir(&ingest)
            .map_err(io_err("read", &ingest))?
            .flatten()
        {
            let _ = fs::remove_file(e.path());
        }
        Ok(stats)
    }

    /// Removes those of `digests` that index.json does not reach: what a
    /// failed pull, push or load wrote. Done only when no other writer
    /// holds the content lock (one might be about to name them); otherwise
    /// nothing is removed and `image prune` will. Returns how many went.
    pub fn discard(&self, digests: &[String]) -> Result<usize> {
        if digests.is_empty() {
            return Ok(0);
        }
        let Some(_g) = self.try_lock("gc.lock")? else {
            return Ok(0);
        };
        let _i = self.lock("index.lock", true)?;
        let live = self.live()?;
        let mut n = 0;
        for d in digests.iter().filter(|d| !live.contains(*d)) {
            let p = self.blob_path(d)?;
            match fs::remove_file(&p) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &p)(e)),
            }
        }
        Ok(n)
    }

    /// Every digest reachable from index.json.
    fn live(&self) -> Result<HashSet<String>> {
        let index = self.read_index()?;
        let mut live = HashSet::new();
        let mut todo: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
        while let Some(d) = todo.pop() {
            let Some(digest) = d["digest"].as_str() else {
                continue;
            };
            if !live.insert(digest.to_string()) {
                continue;
            }
            let media = d["mediaType"].as_str().unwrap_or("");
            if !is_manifest_type(media) && !is_index_type(media) {
                continue;
            }
            let Ok(data) = self.read_blob(digest) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            todo.extend(v["manifests"].as_array().into_iter().flatten().cloned());
            todo.extend(v["layers"].as_array().into_iter().flatten().cloned());
            if v["config"].is_object() {
                todo.push(v["config"].clone());
            }
        }
        Ok(live)
    }

    /// Sizes of all blobs by digest (for `images`).
    pub fn blob_sizes(&self) -> Result<BTreeMap<String, u64>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = BTreeMap::new();
        for e in fs::read_dir(&dir).map_err(io_err("read", &dir))?.flatten() {
            if let Ok(m) = e.metadata() {
                out.insert(
                    format!("sha256:{}", e.file_name().to_string_lossy()),
                    m.len(),
                );
            }
        }
        Ok(out)
    }
}

fn unreachable_lock(name: &str) -> Error {
    Error::Io {
        op: "lock",
        path: PathBuf::from(name),
        source: io::Error::from(io::ErrorKind::WouldBlock),
    }
}

fn manifests_mut(index: &mut Value) -> &mut Vec<Value> {
    if !index["manifests"].is_array() {
        index["manifests"] = json!([]);
    }
    match &mut index["manifests"] {
        Value::Array(a) => a,
        _ => unreachable!("manifests was just made an array"),
    }
}

fn ref_name(m: &Value) -> Option<&str> {
    m["annotations"][ANNOTATION_REF_NAME].as_str()
}

/// OCI or Docker schema2 image manifest.
pub fn is_manifest_type(m: &str) -> bool {
    m == MediaType::ImageManifest.as_ref() || m == DOCKER_MANIFEST
}

/// OCI index or Docker manifest list.
pub fn is_index_type(m: &str) -> bool {
    m == MediaType::ImageIndex.as_ref() || m == DOCKER_MANIFEST_LIST
}

/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;

    #[test]
    fn blobs_are_checked_before_they_land() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(dir.path().join("oci-layout").is_file());
        let d = sha256(b"hello");
        // Wrong content for the digest: refused, nothing stored.
        let e = s.write_blob(&b"hellp"[..], Some((&d, 5))).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        // Too long: reading stops at size + 1.
        let e = s
            .write_blob(&b"hello world"[..], Some((&d, 5)))
            .unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { actual: 6, .. }), "{e}");
        assert!(!s.has_blob(&d, 5));
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        assert_eq!(
            s.write_blob(&b"hello"[..], Some((&d, 5))).unwrap(),
            (d.clone(), 5)
        );
        assert!(s.has_blob(&d, 5));
        assert_eq!(s.read_blob(&d).unwrap(), b"hello");
        assert!(matches!(
            s.blob_path("sha256:../../x"),
            Err(Error::BadDigest(_))
        ));
    }

    #[test]
    fn refs_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let layer = s.put_bytes(b"layer").unwrap();
        let config = s.put_bytes(b"{}").unwrap();
        let orphan = s.put_bytes(b"orphan").unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 5}],
        }))
        .unwrap();
        let md = s.put_bytes(&manifest).unwrap();
        let desc = Descriptor::new(
            MediaType::ImageManifest,
            manifest.len() as u64,
            oci_spec::image::Digest::try_from(md.as_str()).unwrap(),
        );
        s.set_ref("localhost/a:1", &desc).unwrap();
        s.set_ref("localhost/a:2", &desc).unwrap();
        s.set_ref("localhost/a:2", &desc).unwrap();
        assert_eq!(s.images().unwrap().len(), 2);
        assert_eq!(s.gc().unwrap().blobs, 1);
        assert!(!s.has_blob(&orphan, 6));
        s.remove_refs(|r| r.name == "localhost/a:1").unwrap();
        assert_eq!(s.gc().unwrap().blobs, 0);
        s.remove_refs(|r| r.name == "localhost/a:2").unwrap();
        assert_eq!(s.gc().unwrap().blobs, 3);
        assert!(s.images().unwrap().is_empty());
    }
}
