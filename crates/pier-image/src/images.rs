//! Local images: listing (`images`), `inspect`, `tag` and removal (`rmi`,
//! `image prune`).

use crate::platform::Platform;
use crate::pull::{manifest_blobs, Blob};
use crate::reference::Reference;
use crate::store::{self, GcStats, ImageRef, Store};
use serde::Serialize;
use serde_json::{json, Value};

/// Errors listing or removing images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// a manifest in the store is unusable
    #[error(transparent)]
    Manifest(#[from] crate::pull::Error),
    /// an id prefix names several images
    #[error("image id {0} is ambiguous")]
    Ambiguous(String),
    /// no local image by that name or id
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// a tag target with a digest
    #[error("cannot tag {0}: a target has a tag, not a digest")]
    DigestTag(String),
    /// a reference given by the user is invalid
    #[error(transparent)]
    Reference(#[from] crate::reference::Error),
    /// an image's config or index in the store is unusable
    #[error("image {image}: invalid {what} {digest}: {message}")]
    Invalid {
        /// The image.
        image: String,
        /// `config` or `index`.
        what: &'static str,
        /// The blob.
        digest: String,
        /// What is wrong.
        message: String,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// One named image, as `pier images` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    /// Full name (`docker.io/library/busybox:latest`).
    pub name: String,
    /// Repository in Docker's short form (`busybox`).
    pub repository: String,
    /// Tag, `<none>` for a digest reference.
    pub tag: String,
    /// Image id: the config digest.
    #[serde(rename = "ID")]
    pub id: String,
    /// The manifest digest.
    pub digest: String,
    /// Config's `created`, as written.
    pub created_at: String,
    /// Config plus layer sizes (compressed, as stored).
    pub size: u64,
}

/// Every named image, sorted by name.
pub fn list(store: &Store) -> Result<Vec<ImageInfo>> {
    let mut out = Vec::new();
    for i in store.images()? {
        let digest = i.descriptor.digest().to_string();
        let bytes = store.read_blob(&digest)?;
        let (config, layers) = match manifest_blobs(&bytes, &i.name) {
            Ok(x) => x,
            // An index or a foreign entry (skopeo may add any): show it bare.
            Err(_) => continue,
        };
        let cfg: serde_json::Value =
            serde_json::from_slice(&store.read_blob(&config.digest).unwrap_or_default())
                .unwrap_or_default();
        let (repository, tag) = match Reference::parse(&i.name) {
            Ok(r) => {
                let tag = r.tag.clone().unwrap_or_else(|| "<none>".into());
                let mut short = r.with_tag("x").familiar();
                short.truncate(short.len() - 2);
                (short, tag)
            }
            Err(_) => (i.name.clone(), "<none>".into()),
        };
        out.push(ImageInfo {
            repository,
            tag,
            id: config.digest.clone(),
            digest,
            created_at: cfg["created"].as_str().unwrap_or("").to_string(),
            size: config.size + layers.iter().map(|l| l.size).sum::<u64>(),
            name: i.name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes the names matching `what` (a reference, or an image id or a
/// prefix of one, with or without `sha256:`); an id removes every name of
/// that image. Returns the names removed (empty: no such image).
pub fn remove(store: &Store, what: &str) -> Result<Vec<String>> {
    let images = list(store)?;
    let by_name = Reference::parse(what).ok().map(|r| r.to_string());
    let names: Vec<String> = match images.iter().find(|i| Some(&i.name) == by_name.as_ref()) {
        Some(i) => vec![i.name.clone()],
        None => {
            let hex = what.strip_prefix("sha256:").unwrap_or(what);
            let ids: std::collections::BTreeSet<&str> = images
                .iter()
                .filter(|i| hex.len() >= 3 && i.id["sha256:".len()..].starts_with(hex))
                .map(|i| i.id.as_str())
                .collect();
            if ids.len() > 1 {
                return Err(Error::Ambiguous(what.to_string()));
            }
            images
                .iter()
                .filter(|i| ids.contains(i.id.as_str()))
                .map(|i| i.name.clone())
                .collect()
        }
    };
    if names.is_empty() {
        return Ok(names);
    }
    store.remove_refs(|r| names.contains(&r.name))?;
    Ok(names)
}

/// Removes blobs no image references.
pub fn prune(store: &Store) -> Result<GcStats> {
    Ok(store.gc()?)
}

/// The local image `what` names: a reference (`busybox`, a full name), an
/// image id (config digest, with or without `sha256:`) or a unique prefix of
/// one (at least 3 hex digits), or a manifest digest.
pub fn resolve(store: &Store, what: &str) -> Result<ImageRef> {
    if let Ok(r) = Reference::parse(what) {
        if let Ok(i) = store.get(&r.to_string()) {
            return Ok(i);
        }
    }
    let hex = what.strip_prefix("sha256:").unwrap_or(what);
    let is_hex = hex.len() >= 3 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let matches: Vec<ImageInfo> = list(store)?
            .into_iter()
            .filter(|i| {
                i.id["sha256:".len()..].starts_with(hex)
                    || (hex.len() == 64 && i.digest["sha256:".len()..] == *hex)
            })
            .collect();
        let ids: std::collections::BTreeSet<&str> = matches.iter().map(|i| i.id.as_str()).collect();
        if ids.len() > 1 {
            return Err(Error::Ambiguous(what.to_string()));
        }
        if let Some(i) = matches.first() {
            return Ok(store.get(&i.name)?);
        }
    }
    Err(Error::NoSuchImage(what.to_string()))
}

/// The image manifest of `image` (for an index, the entry for `platform`,
/// which must be in the store): digest, bytes, config and layers.
pub fn image_manifest(
    store: &Store,
    image: &ImageRef,
    platform: &Platform,
) -> Result<(String, Vec<u8>, Blob, Vec<Blob>)> {
    let mut digest = image.descriptor.digest().to_string();
    let mut bytes = store.read_blob(&digest)?;
    if store::is_index_type(image.descriptor.media_type().as_ref()) {
        let invalid = |message: String| Error::Invalid {
            image: image.name.clone(),
            what: "index",
            digest: digest.clone(),
            message,
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let child = v["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                let p = &m["platform"];
                store::is_manifest_type(m["mediaType"].as_str().unwrap_or(""))
                    && platform.matches(
                        p["os"].as_str().unwrap_or(""),
                        p["architecture"].as_str().unwrap_or(""),
                        p["variant"].as_str(),
                    )
            })
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| invalid(format!("no manifest for {platform}")))?
            .to_string();
        bytes = store.read_blob(&child)?;
        digest = child;
    }
    let (config, layers) = manifest_blobs(&bytes, &image.name)?;
    Ok((digest, bytes, config, layers))
}

/// `pier inspect` of an image: Docker's `docker image inspect` object (Id,
/// RepoTags, RepoDigests, Created, Author, Config, Architecture, Os, Size,
/// RootFS...), plus the manifest's `Descriptor` as Docker 25 shows it.
/// Size is the stored (compressed) size of config and layers.
pub fn inspect(store: &Store, what: &str) -> Result<Value> {
    let image = resolve(store, what)?;
    let (digest, _, config, layers) = image_manifest(store, &image, &Platform::host())?;
    let cfg_bytes = store.read_blob(&config.digest)?;
    let cfg: Value = serde_json::from_slice(&cfg_bytes).map_err(|e| Error::Invalid {
        image: image.name.clone(),
        what: "config",
        digest: config.digest.clone(),
        message: e.to_string(),
    })?;
    // Every name of the same image (same config) in the store.
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for i in store.images()? {
        let d = i.descriptor.digest().to_string();
        let same = d == image.descriptor.digest().as_ref()
            || d == digest
            || manifest_blobs(&store.read_blob(&d).unwrap_or_default(), &i.name)
                .is_ok_and(|(c, _)| c.digest == config.digest);
        if !same {
            continue;
        }
        if let Ok(r) = Reference::parse(&i.name) {
            if r.tag.is_some() {
                tags.push(r.familiar());
            }
            let mut bare = r.clone();
            bare.tag = None;
            bare.digest = Some(d.clone());
            let rd = bare.familiar();
            if !digests.contains(&rd) {
                digests.push(rd);
            }
        }
    }
    tags.sort();
    digests.sort();
    let s = |k: &str| cfg[k].as_str().unwrap_or("").to_string();
    let mut out = json!({
        "Id": config.digest,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": cfg["history"].as_array().and_then(|h| h.last()).and_then(|h| h["comment"].as_str()).unwrap_or(""),
        "Created": s("created"),
        "DockerVersion": s("docker_version"),
        "Author": s("author"),
        "Config": if cfg["config"].is_object() { cfg["config"].clone() } else { json!({}) },
        "Architecture": s("architecture"),
        "Os": s("os"),
        "Size": config.size + layers.iter().map(|l| l.size).sum::<u64>(),
        "RootFS": {
            "Type": cfg["rootfs"]["type"].as_str().unwrap_or("layers"),
            "Layers": cfg["rootfs"]["diff_ids"].clone(),
        },
        "Descriptor": {
            "mediaType": image.descriptor.media_type().to_string(),
            "digest": image.descriptor.digest().to_string(),
            "size": image.descriptor.size(),
        },
    });
    if let Some(v) = cfg["variant"].as_str() {
        out["Variant"] = v.into();
    }
    if let Some(v) = cfg["os.version"].as_str() {
        out["OsVersion"] = v.into();
    }
    Ok(out)
}

/// `pier tag SOURCE TARGET`: names the image `source` resolves to also
/// `target`. Returns the full target name.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<String> {
    let image = resolve(store, source)?;
    let target = Reference::parse(target)?;
    if target.digest.is_some() {
        return Err(Error::DigestTag(target.to_string()));
    }
    let name = target.to_string();
    store.set_ref(&name, &image.descriptor)?;
    Ok(name)
}
