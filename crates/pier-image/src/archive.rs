//! `save` and `load`: images to and from tarballs, in the two formats other
//! tools exchange.
//!
//! - **docker-archive**, as `docker save` (up to Docker 24) and
//!   `skopeo copy … docker-archive:` write it: `manifest.json`
//!   (`[{"Config","RepoTags","Layers"}]`), `repositories`, the config as
//!   `<id>.json` and each layer uncompressed as `<diff id>/layer.tar`.
//!   Loading also takes Docker 25's variant (paths under `blobs/sha256/`),
//!   compressed layers and symlinked duplicate layers.
//! - **oci-archive**: an OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/sha256/…`) in a tar, as `skopeo copy … oci-archive:` writes it;
//!   every image is named by `org.opencontainers.image.ref.name` and
//!   `io.containerd.image.name`.
//!
//! Loading never extracts the archive: the input is spooled to a file in
//! the store's ingest directory, its entries are indexed by name, and only
//! the files `manifest.json` or `index.json` name are read, each checked
//! (digest, size, DiffID) before it is named in index.json. A failed load
//! removes the blobs it wrote.

use crate::digest::{sha256, sha256_hex, HashReader};
use crate::images;
use crate::platform::Platform;
use crate::pull::{config_platform, parse_digest, Blob};
use crate::reference::Reference;
use crate::store::{self, Store, ANNOTATION_CONTAINERD_NAME};
use oci_spec::image::{Descriptor, MediaType, ANNOTATION_REF_NAME};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// JSON files of an archive larger than this are refused.
const MAX_JSON: u64 = 8 << 20;

/// Errors saving or loading an archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the archive is malformed
    #[error("invalid archive {archive}: {message}")]
    Invalid {
        /// The archive (a path, or `standard input`).
        archive: String,
        /// What is wrong, naming the file or field.
        message: String,
    },
    /// reading or writing the archive failed
    #[error("failed to {op} {what}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// an image of the store is unusable or missing
    #[error(transparent)]
    Image(#[from] images::Error),
    /// an unknown archive format was asked for
    #[error("unknown archive format {0:?}: use docker-archive or oci-archive")]
    Format(String),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `docker save`'s.
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker-archive" | "docker" => Ok(Format::DockerArchive),
            "oci-archive" | "oci" => Ok(Format::OciArchive),
            _ => Err(Error::Format(s.to_string())),
        }
    }
}

fn io_err(op: &'static str, what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> Error {
    let what = what.to_string();
    move |source| Error::Io { op, what, source }
}

/// Writes the images `names` (references or ids, as `inspect` takes them)
/// to `out` in `format`. An index saves whole in an oci-archive and as its
/// `platform` entry in a docker-archive.
pub fn save(
    store: &Store,
    names: &[String],
    format: Format,
    platform: &Platform,
    out: impl Write,
) -> Result<()> {
    let _content = store.lock_content()?;
    let mut images = Vec::new();
    for n in names {
        let image = images::resolve(store, n)?;
        // The name typed, or for an id the name it resolved to.
        let tagged = Reference::parse(n)
            .ok()
            .filter(|r| r.to_string() == image.name)
            .map(|_| vec![image.name.clone()]);
        images.push((image, tagged));
    }
    let mut tar = tar::Builder::new(out);
    match format {
        Format::DockerArchive => save_docker(store, &images, platform, &mut tar)?,
        Format::OciArchive => save_oci(store, &images, &mut tar)?,
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_err("write", "the archive"))
}

type Named = (store::ImageRef, Option<Vec<String>>);

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = header(size);
    tar.append_data(&mut h, path, data)
        .map_err(io_err("write", format!("{path} to the archive")))
}

fn save_docker<W: Write>(
    store: &Store,
    images: &[Named],
    platform: &Platform,
    tar: &mut tar::Builder<W>,
) -> Result<()> {
    // One manifest.json entry per image (config), with all its names.
    let mut entries: Vec<(Blob, Vec<Blob>, Vec<String>)> = Vec::new();
    for (image, tagged) in images {
        let (_, _, config, layers) = images::image_manifest(store, image, platform)?;
        let names = match tagged {
            Some(t) => t.clone(),
            None => vec![image.name.clone()],
        };
        let tags: Vec<String> = names
            .iter()
            .filter_map(|n| Reference::parse(n).ok())
            .filter(|r| r.tag.is_some() && r.digest.is_none())
            .map(|r| r.familiar())
            .collect();
        match entries.iter_mut().find(|e| e.0.digest == config.digest) {
            Some(e) => e.2.extend(tags),
            None => entries.push((config, layers, tags)),
        }
    }
    let mut written = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (config, layers, tags) in &entries {
        let cfg_bytes = store.read_blob(&config.digest)?;
        let cfg: Value = serde_json::from_slice(&cfg_bytes).map_err(|e| store::Error::Json {
            path: store.blob_path(&config.digest).unwrap_or_default(),
            source: e,
        })?;
        let diff_ids: Vec<&str> = cfg["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if diff_ids.len() != layers.len() {
            return Err(images::Error::Invalid {
                image: config.digest.clone(),
                what: "config",
                digest: config.digest.clone(),
                message: format!("{} layers but {} diff_ids", layers.len(), diff_ids.len()),
            }
            .into());
        }
        let mut paths = Vec::new();
        for (l, diff_id) in layers.iter().zip(&diff_ids) {
            let hex =
                sha256_hex(diff_id).ok_or_else(|| store::Error::BadDigest(diff_id.to_string()))?;
            let path = format!("{hex}/layer.tar");
            if written.insert(path.clone()) {
                append_layer(store, tar, l, diff_id, &path)?;
            }
            paths.push(path);
        }
        let cfg_hex = sha256_hex(&config.digest)
            .ok_or_else(|| store::Error::BadDigest(config.digest.clone()))?;
        let cfg_path = format!("{cfg_hex}.json");
        if written.insert(cfg_path.clone()) {
            append(tar, &cfg_path, cfg_bytes.len() as u64, &cfg_bytes[..])?;
        }
        for t in tags {
            if let Some((repo, tag)) = t.rsplit_once(':') {
                if let Some(last) = paths.last() {
                    let id = last.trim_end_matches("/layer.tar").to_string();
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(tag.to_string(), id);
                }
            }
        }
        manifest.push(json!({"Config": cfg_path, "RepoTags": tags, "Layers": paths}));
    }
    let repos = serde_json::to_vec(&repositories).unwrap_or_default();
    append(tar, "repositories", repos.len() as u64, &repos[..])?;
    let m = serde_json::to_vec(&manifest).unwrap_or_default();
    append(tar, "manifest.json", m.len() as u64, &m[..])
}

/// Writes layer `l` uncompressed (a docker-archive's layers are the DiffID
/// content): decompressed into the ingest dir first, for its size, and
/// checked against `diff_id`.
fn append_layer<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    l: &Blob,
    diff_id: &str,
    path: &str,
) -> Result<()> {
    let tmp = Temp::new(store)?;
    let blob = store.open_blob(&l.digest)?;
    let mut r =
        HashReader::new(crate::unpack::decompress(blob).map_err(io_err("read", &l.digest))?);
    let mut f = File::create(&tmp.0).map_err(io_err("create", tmp.0.display()))?;
    io::copy(&mut r, &mut f).map_err(io_err("decompress", &l.digest))?;
    let (actual, size) = r.finish().map_err(io_err("decompress", &l.digest))?;
    if actual != diff_id {
        return Err(store::Error::DigestMismatch {
            expected: diff_id.to_string(),
            actual,
        }
        .into());
    }
    let f = File::open(&tmp.0).map_err(io_err("open", tmp.0.display()))?;
    append(tar, path, size, f)
}

fn save_oci<W: Write>(store: &Store, images: &[Named], tar: &mut tar::Builder<W>) -> Result<()> {
    let mut index = Vec::new();
    let mut blobs: Vec<(String, u64)> = Vec::new();
    let mut seen = HashSet::new();
    for (image, tagged) in images {
        let names = match tagged {
            Some(t) => t.clone(),
            None => vec![image.name.clone()],
        };
        for n in names {
            let mut d = serde_json::to_value(&image.descriptor).unwrap_or_default();
            d["annotations"] = json!({ANNOTATION_REF_NAME: n, ANNOTATION_CONTAINERD_NAME: n});
            index.push(d);
        }
        // Everything the descriptor reaches.
        let mut todo = vec![(
            image.descriptor.digest().to_string(),
            image.descriptor.size(),
            image.descriptor.media_type().to_string(),
        )];
        while let Some((digest, size, media)) = todo.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            blobs.push((digest.clone(), size));
            if !store::is_manifest_type(&media) && !store::is_index_type(&media) {
                continue;
            }
            let v: Value = serde_json::from_slice(&store.read_blob(&digest)?).map_err(|e| {
                store::Error::Json {
                    path: store.blob_path(&digest).unwrap_or_default(),
                    source: e,
                }
            })?;
            let children = v["manifests"]
                .as_array()
                .into_iter()
                .chain(v["layers"].as_array())
                .flatten()
                .chain(std::iter::once(&v["config"]).filter(|c| c.is_object()));
            for c in children {
                let (Some(d), Some(s)) = (c["digest"].as_str(), c["size"].as_u64()) else {
                    continue;
                };
                todo.push((
                    d.to_string(),
                    s,
                    c["mediaType"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(tar, "oci-layout", layout.len() as u64, &layout[..])?;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex.to_string(),
        "manifests": index,
    }))
    .unwrap_or_default();
    append(tar, "index.json", index.len() as u64, &index[..])?;
    for (digest, size) in blobs {
        let hex = sha256_hex(&digest).ok_or_else(|| store::Error::BadDigest(digest.clone()))?;
        let f = store.open_blob(&digest)?;
        let len = f.metadata().map_err(io_err("stat", &digest))?.len();
        if len != size {
            return Err(store::Error::SizeMismatch {
                digest,
                expected: size,
                actual: len,
            }
            .into());
        }
        append(tar, &format!("blobs/sha256/{hex}"), size, f)?;
    }
    Ok(())
}

/// A temp file in the store's ingest dir, removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(store: &Store) -> Result<Temp> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Temp(
            store
                .root()
                .join("ingest")
                .join(format!("archive-{}-{n}", std::process::id())),
        ))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Loads every image of the archive read from `input` (plain, gzip or zstd
/// compressed; `what` names it in errors) into `store`. Returns the names
/// loaded. Nothing is named unless everything checks; a failed load
/// removes the blobs it wrote.
pub fn load(store: &Store, input: impl Read, what: &str) -> Result<Vec<String>> {
    let content = store.lock_content()?;
    let mut written = Vec::new();
    let res = load_locked(store, input, what, &mut written);
    drop(content);
    if res.is_err() {
        // Best effort: the load's own error is what the user needs.
        let _ = store.discard(&written);
    }
    res
}

fn load_locked(
    store: &Store,
    input: impl Read,
    what: &str,
    written: &mut Vec<String>,
) -> Result<Vec<String>> {
    let tmp = Temp::new(store)?;
    {
        let mut r = crate::unpack::decompress(input).map_err(io_err("read", what))?;
        let mut f = File::create(&tmp.0).map_err(io_err("create", tmp.0.display()))?;
        io::copy(&mut r, &mut f).map_err(io_err("read", what))?;
    }
    let mut a = Archive::open(&tmp.0, what)?;
    let mut l = Loader {
        store,
        written,
        archive: &mut a,
    };
    let images = if l.archive.has("manifest.json") {
        l.docker()?
    } else if l.archive.has("index.json") {
        l.oci()?
    } else {
        return Err(l.archive.bad(
            "neither a docker-archive (no manifest.json) nor an oci-archive (no index.json)",
        ));
    };
    // Only now, with every blob in place, are the names written.
    let mut names = Vec::new();
    for (name, desc) in images {
        store.set_ref(&name, &desc)?;
        names.push(name);
    }
    Ok(names)
}

/// An uncompressed tar, its regular files indexed by normalised path.
struct Archive {
    file: File,
    what: String,
    entries: HashMap<String, (u64, u64)>,
}

impl Archive {
    fn open(path: &Path, what: &str) -> Result<Archive> {
        let file = File::open(path).map_err(io_err("open", path.display()))?;
        let mut entries = HashMap::new();
        let mut links = Vec::new();
        let mut t = tar::Archive::new(&file);
        let bad = |e: io::Error| Error::Invalid {
            archive: what.to_string(),
            message: format!("not a tar archive: {e}"),
        };
        for e in t.entries().map_err(bad)? {
            let e = e.map_err(bad)?;
            let raw = e.path().map_err(bad)?.to_string_lossy().into_owned();
            let Some(name) = normalise(&raw) else {
                continue;
            };
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    entries.insert(name, (e.raw_file_position(), e.size()));
                }
                // Docker writes a layer seen twice as a symlink to the first.
                tar::EntryType::Symlink => {
                    if let Ok(Some(target)) = e.link_name() {
                        let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
                        let joined = dir.join(target).to_string_lossy().into_owned();
                        if let Some(t) = normalise(&joined) {
                            links.push((name, t));
                        }
                    }
                }
                _ => {}
            }
        }
        for (name, target) in links {
            if let Some(&e) = entries.get(&target) {
                entries.insert(name, e);
            }
        }
        Ok(Archive {
            file,
            what: what.to_string(),
            entries,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    fn bad(&self, message: impl Into<String>) -> Error {
        Error::Invalid {
            archive: self.what.clone(),
            message: message.into(),
        }
    }

    /// The file `name` as a reader, and its size.
    fn open_entry(&mut self, name: &str) -> Result<(impl Read + '_, u64)> {
        let &(offset, size) = self
            .entries
            .get(&normalise(name).unwrap_or_default())
            .ok_or_else(|| Error::Invalid {
                archive: self.what.clone(),
                message: format!("{name}: no such file in the archive"),
            })?;
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(io_err("read", &self.what))?;
        Ok((Read::by_ref(&mut self.file).take(size), size))
    }

    /// A JSON file of the archive.
    fn json(&mut self, name: &str) -> Result<Value> {
        let what = self.what.clone();
        let bad = |message: String| Error::Invalid {
            archive: what.clone(),
            message,
        };
        let (mut r, size) = self.open_entry(name)?;
        if size > MAX_JSON {
            return Err(bad(format!("{name}: {size} bytes is too large")));
        }
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).map_err(io_err("read", name))?;
        serde_json::from_slice(&buf).map_err(|e| bad(format!("{name}: {e}")))
    }
}

/// `./a//b` is `a/b`; names with `..` (or empty) match nothing.
fn normalise(p: &str) -> Option<String> {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

struct Loader<'a> {
    store: &'a Store,
    written: &'a mut Vec<String>,
    archive: &'a mut Archive,
}

impl Loader<'_> {
    /// Stores the archive file `name`; with `expected`, checked against it.
    fn blob(&mut self, name: &str, expected: Option<(&str, u64)>) -> Result<(String, u64)> {
        if let Some((d, s)) = expected {
            if self.store.has_blob(d, s) {
                return Ok((d.to_string(), s));
            }
        }
        let (r, _) = self.archive.open_entry(name)?;
        let res = self.store.write_blob(r, expected);
        let (digest, size) = res.map_err(|e| match e {
            store::Error::DigestMismatch { .. } | store::Error::SizeMismatch { .. } => {
                self.archive.bad(format!("{name}: {e}"))
            }
            e => e.into(),
        })?;
        self.written.push(digest.clone());
        Ok((digest, size))
    }

    fn docker(&mut self) -> Result<Vec<(String, Descriptor)>> {
        let m = self.archive.json("manifest.json")?;
        let list = m
            .as_array()
            .ok_or_else(|| self.archive.bad("manifest.json: not a JSON array"))?;
        if list.is_empty() {
            return Err(self.archive.bad("manifest.json: no images"));
        }
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            let field = |k: &str| format!("manifest.json: [{i}].{k}");
            let cfg_name = e["Config"]
                .as_str()
                .ok_or_else(|| self.archive.bad(format!("{}: missing", field("Config"))))?;
            let layer_names: Vec<&str> = e["Layers"]
                .as_array()
                .ok_or_else(|| self.archive.bad(format!("{}: missing", field("Layers"))))?
                .iter()
                .map(|l| {
                    l.as_str().ok_or_else(|| {
                        self.archive
                            .bad(format!("{}: not a string", field("Layers")))
                    })
                })
                .collect::<Result<_>>()?;
            let mut names = Vec::new();
            for t in e["RepoTags"].as_array().into_iter().flatten() {
                let t = t.as_str().ok_or_else(|| {
                    self.archive
                        .bad(format!("{}: not a string", field("RepoTags")))
                })?;
                let r = Reference::parse(t).map_err(|err| {
                    self.archive
                        .bad(format!("{}: {t:?}: {err}", field("RepoTags")))
                })?;
                names.push(r.to_string());
            }
            if names.is_empty() {
                return Err(self.archive.bad(format!(
                    "{}: image {cfg_name} has no name; pier keeps named images only",
                    field("RepoTags")
                )));
            }
            let cfg = self.archive.json(cfg_name)?;
            let diff_ids: Vec<String> = cfg["rootfs"]["diff_ids"]
                .as_array()
                .ok_or_else(|| self.archive.bad(format!("{cfg_name}: no rootfs.diff_ids")))?
                .iter()
                .map(|d| d.as_str().unwrap_or("").to_string())
                .collect();
            if diff_ids.len() != layer_names.len() {
                return Err(self.archive.bad(format!(
                    "{}: {} layers, but {cfg_name} has {} rootfs.diff_ids",
                    field("Layers"),
                    layer_names.len(),
                    diff_ids.len()
                )));
            }
            let (cfg_digest, cfg_size) = self.blob(cfg_name, None)?;
            let mut layers = Vec::new();
            for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
                let (digest, size) = self.blob(name, None)?;
                let media = self.check_layer(name, &digest, diff_id)?;
                layers.push(json!({"mediaType": media, "digest": digest, "size": size}));
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": MediaType::ImageManifest.to_string(),
                "config": {
                    "mediaType": MediaType::ImageConfig.to_string(),
                    "digest": cfg_digest,
                    "size": cfg_size,
                },
                "layers": layers,
            }))
            .unwrap_or_default();
            let digest = self.store.put_bytes(&manifest)?;
            self.written.push(digest.clone());
            let mut desc = Descriptor::new(
                MediaType::ImageManifest,
                manifest.len() as u64,
                parse_digest(&digest).map_err(|_| store::Error::BadDigest(digest.clone()))?,
            );
            desc.set_platform(config_platform(self.store, &cfg_digest));
            out.extend(names.into_iter().map(|n| (n, desc.clone())));
        }
        Ok(out)
    }

    /// Checks a stored layer's uncompressed content against `diff_id`;
    /// returns the media type its compression calls for.
    fn check_layer(&mut self, name: &str, digest: &str, diff_id: &str) -> Result<String> {
        let mut f = self.store.open_blob(digest)?;
        let mut head = [0u8; 4];
        let n = f.read(&mut head).map_err(io_err("read", digest))?;
        let media = match &head[..n] {
            [0x1f, 0x8b, ..] => MediaType::ImageLayerGzip,
            [0x28, 0xb5, 0x2f, 0xfd] => MediaType::ImageLayerZstd,
            _ => MediaType::ImageLayer,
        };
        let actual = if media == MediaType::ImageLayer {
            digest.to_string()
        } else {
            f.seek(SeekFrom::Start(0)).map_err(io_err("read", digest))?;
            let r = HashReader::new(crate::unpack::decompress(f).map_err(io_err("read", name))?);
            r.finish()
                .map_err(|e| self.archive.bad(format!("{name}: {e}")))?
                .0
        };
        if actual != diff_id {
            return Err(self.archive.bad(format!(
                "{name}: content {actual} does not match its rootfs.diff_ids entry {diff_id:?}"
            )));
        }
        Ok(media.to_string())
    }

    fn oci(&mut self) -> Result<Vec<(String, Descriptor)>> {
        let index = self.archive.json("index.json")?;
        let list = index["manifests"]
            .as_array()
            .ok_or_else(|| self.archive.bad("index.json: no manifests array"))?
            .clone();
        let mut out = Vec::new();
        for (i, d) in list.iter().enumerate() {
            let field = format!("index.json: manifests[{i}]");
            let desc: Descriptor = serde_json::from_value(d.clone())
                .map_err(|e| self.archive.bad(format!("{field}: {e}")))?;
            let ann = desc.annotations().clone().unwrap_or_default();
            let Some(name) = ann
                .get(ANNOTATION_CONTAINERD_NAME)
                .or_else(|| ann.get(ANNOTATION_REF_NAME))
            else {
                return Err(self.archive.bad(format!(
                    "{field}: no {ANNOTATION_REF_NAME} annotation; pier keeps named images only"
                )));
            };
            let name = Reference::parse(name)
                .map_err(|e| self.archive.bad(format!("{field}: name {name:?}: {e}")))?
                .to_string();
            self.oci_tree(&desc, &field, 0)?;
            let mut stored = desc.clone();
            stored.set_annotations(None);
            out.push((name, stored));
        }
        if out.is_empty() {
            return Err(self.archive.bad("index.json: no images"));
        }
        Ok(out)
    }

    /// Stores the blob of `d` and everything it reaches, each checked
    /// against its descriptor.
    fn oci_tree(&mut self, d: &Descriptor, field: &str, depth: u32) -> Result<()> {
        if depth > 4 {
            return Err(self
                .archive
                .bad(format!("{field}: indexes nested too deep")));
        }
        let digest = d.digest().to_string();
        let hex = sha256_hex(&digest).ok_or_else(|| {
            self.archive
                .bad(format!("{field}: unsupported digest {digest:?}"))
        })?;
        let path = format!("blobs/sha256/{hex}");
        self.blob(&path, Some((&digest, d.size())))?;
        let media = d.media_type().to_string();
        if !store::is_manifest_type(&media) && !store::is_index_type(&media) {
            return Ok(());
        }
        let bytes = self.store.read_blob(&digest)?;
        if sha256(&bytes) != digest {
            return Err(self
                .archive
                .bad(format!("{path}: content does not match its digest")));
        }
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| self.archive.bad(format!("{path}: {e}")))?;
        let mut children: Vec<Value> = Vec::new();
        children.extend(v["manifests"].as_array().into_iter().flatten().cloned());
        if store::is_manifest_type(&media) {
            if !v["config"].is_object() || !v["layers"].is_array() {
                return Err(self
                    .archive
                    .bad(format!("{path}: a manifest without config or layers")));
            }
            children.push(v["config"].clone());
            children.extend(v["layers"].as_array().into_iter().flatten().cloned());
        }
        for (k, c) in children.iter().enumerate() {
            let f = format!("{path}: descriptor {k}");
            let c: Descriptor = serde_json::from_value(c.clone())
                .map_err(|e| self.archive.bad(format!("{f}: {e}")))?;
            self.oci_tree(&c, &f, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = header(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
        tar_of(files)
    }

    /// A docker-archive of one image with `layers`, config diff_ids
    /// `diff_ids` (default: the layers' digests).
    fn docker_archive(layers: &[Vec<u8>], diff_ids: Option<Vec<String>>, tags: &str) -> Vec<u8> {
        let diff_ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha256(l)).collect());
        let cfg = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
            .to_string();
        let names: Vec<String> = (0..layers.len())
            .map(|i| format!("l{i}/layer.tar"))
            .collect();
        let manifest = format!(
            r#"[{{"Config":"c.json","RepoTags":{tags},"Layers":{}}}]"#,
            serde_json::to_string(&names).unwrap()
        );
        let mut files: Vec<(&str, &[u8])> = vec![("c.json", cfg.as_bytes())];
        for (n, l) in names.iter().zip(layers) {
            files.push((n, l));
        }
        files.push(("manifest.json", manifest.as_bytes()));
        tar_of(&files)
    }

    fn empty(store: &Store) -> bool {
        store.images().unwrap().is_empty()
            && fs::read_dir(store.root().join("blobs/sha256"))
                .unwrap()
                .count()
                == 0
            && fs::read_dir(store.root().join("ingest")).unwrap().count() == 0
    }

    #[test]
    fn docker_archive_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let l = layer(&[("hello", b"world")]);
        let a = docker_archive(std::slice::from_ref(&l), None, r#"["test/x:1"]"#);
        let names = load(&store, &a[..], "a.tar").unwrap();
        assert_eq!(names, ["docker.io/test/x:1"]);
        let mut out = Vec::new();
        save(
            &store,
            &["test/x:1".into()],
            Format::DockerArchive,
            &Platform::host(),
            &mut out,
        )
        .unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = Store::open(dir2.path()).unwrap();
        assert_eq!(load(&store2, &out[..], "b.tar").unwrap(), names);
        let a = images::inspect(&store, "test/x:1").unwrap();
        let b = images::inspect(&store2, "test/x:1").unwrap();
        assert_eq!(a["Id"], b["Id"]);
        assert_eq!(a["RootFS"]["Layers"][0], sha256(&l));
    }

    #[test]
    fn bad_archives_name_the_problem_and_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let l = layer(&[("hello", b"world")]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"junk".to_vec(), "not a tar archive"),
            (tar_of(&[("x", b"y")]), "neither a docker-archive"),
            (tar_of(&[("manifest.json", b"{")]), "manifest.json: EOF"),
            (tar_of(&[("manifest.json", b"{}")]), "not a JSON array"),
            (tar_of(&[("manifest.json", b"[{}]")]), "manifest.json: [0].Config"),
            (
                docker_archive(std::slice::from_ref(&l), Some(vec!["sha256:00".into()]), r#"["a:b"]"#),
                "l0/layer.tar: content",
            ),
            (docker_archive(std::slice::from_ref(&l), Some(vec![]), r#"["a:b"]"#), "rootfs.diff_ids"),
            (docker_archive(std::slice::from_ref(&l), None, r#"["Bad:b"]"#), "RepoTags"),
            (docker_archive(std::slice::from_ref(&l), None, "[]"), "no name"),
            (
                tar_of(&[(
                    "manifest.json",
                    br#"[{"Config":"../../etc/passwd","RepoTags":["a:b"],"Layers":[]}]"#,
                )]),
                "../../etc/passwd: no such file",
            ),
            (
                tar_of(&[("index.json", br#"{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2,"annotations":{"org.opencontainers.image.ref.name":"a:b"}}]}"#)]),
                "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000: no such file",
            ),
        ];
        for (a, want) in cases {
            let e = load(&store, &a[..], "bad.tar").unwrap_err().to_string();
            assert!(
                e.contains("bad.tar") && e.contains(want),
                "{e} (want {want})"
            );
            assert!(empty(&store), "after {want}");
        }
    }
}
