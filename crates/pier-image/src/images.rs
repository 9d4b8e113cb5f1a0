//! Local images: listing (`images`) and removal (`rmi`, `image prune`).

use crate::pull::manifest_blobs;
use crate::reference::Reference;
use crate::store::{self, GcStats, Store};
use serde::Serialize;

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
