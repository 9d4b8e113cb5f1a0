//! `pull`: manifest (choosing a platform from an index), config and layers
//! into the content store, then the name in index.json.

use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{self, Client, Manifest};
use crate::store::{self, Store};
use oci_spec::image::{Descriptor, Digest, MediaType};
use serde_json::Value;

/// Layers downloaded at once.
const PARALLEL: usize = 3;

/// Errors of a pull.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// talking to the registry failed
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// no entry of the index is for the wanted platform
    #[error("no image for platform {platform} in {reference} (it has: {available})")]
    NoPlatform {
        /// Wanted.
        platform: String,
        /// The image.
        reference: String,
        /// What the index lists.
        available: String,
    },
    /// the manifest lacks a field or has a bad one
    #[error("invalid manifest {reference}: {message}")]
    Manifest {
        /// The image.
        reference: String,
        /// What is wrong.
        message: String,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The name recorded in the store.
    pub name: String,
    /// The manifest's digest.
    pub manifest: String,
    /// The config's digest (Docker's image id).
    pub config: String,
}

/// A blob a manifest points to.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// Config and layers of an image manifest.
pub fn manifest_blobs(bytes: &[u8], reference: &str) -> Result<(Blob, Vec<Blob>)> {
    let bad = |message: &str| Error::Manifest {
        reference: reference.to_string(),
        message: message.to_string(),
    };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let blob = |d: &Value| -> Result<Blob> {
        Ok(Blob {
            digest: d["digest"]
                .as_str()
                .filter(|d| crate::digest::sha256_hex(d).is_some())
                .ok_or_else(|| bad("descriptor without a sha256 digest"))?
                .to_string(),
            size: d["size"]
                .as_u64()
                .ok_or_else(|| bad("descriptor without a size"))?,
            media_type: d["mediaType"].as_str().unwrap_or("").to_string(),
        })
    };
    let config = blob(&v["config"])?;
    let layers = v["layers"]
        .as_array()
        .ok_or_else(|| bad("no layers"))?
        .iter()
        .map(blob)
        .collect::<Result<Vec<_>>>()?;
    Ok((config, layers))
}

/// Pulls `r` for `platform` into `store`; `progress` gets one line per step.
pub fn pull(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Pulled> {
    // Blobs written before index.json names them must survive a gc.
    let _content = store.lock_content()?;
    let mut m = client.manifest(r, r.object())?;
    let mut chosen_platform = None;
    if store::is_index_type(&m.media_type) {
        let (d, p) = select(&m, r, platform)?;
        progress(&format!("{}: selected {} for {}", r, d, platform));
        m = client.manifest(r, &d)?;
        chosen_platform = p;
        if !store::is_manifest_type(&m.media_type) {
            return Err(Error::Manifest {
                reference: r.to_string(),
                message: format!("nested index {} is not supported", m.digest),
            });
        }
    }
    let (config, layers) = manifest_blobs(&m.bytes, &r.to_string())?;
    client.fetch_blob(r, &config.digest, config.size, store)?;
    let queue = std::sync::Mutex::new(layers.iter().collect::<Vec<_>>());
    let first_err = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(layers.len()) {
            s.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.pop()).ok().flatten();
                let Some(l) = next else { break };
                let have = store.has_blob(&l.digest, l.size);
                match client.fetch_blob(r, &l.digest, l.size, store) {
                    Ok(()) if have => progress(&format!("{}: already exists", short(&l.digest))),
                    Ok(()) => progress(&format!("{}: pull complete", short(&l.digest))),
                    Err(e) => {
                        if let Ok(mut f) = first_err.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e.into());
    }
    let digest = store.put_bytes(&m.bytes)?;
    let mut desc = Descriptor::new(
        MediaType::from(m.media_type.as_str()),
        m.bytes.len() as u64,
        parse_digest(&digest)?,
    );
    let platform_of_config = config_platform(store, &config.digest);
    desc.set_platform(chosen_platform.or(platform_of_config));
    let name = r.to_string();
    store.set_ref(&name, &desc)?;
    progress(&format!("Digest: {digest}"));
    Ok(Pulled {
        name,
        manifest: digest,
        config: config.digest,
    })
}

fn parse_digest(d: &str) -> Result<Digest> {
    Digest::try_from(d).map_err(|_| Error::Store(store::Error::BadDigest(d.to_string())))
}

fn config_platform(store: &Store, config: &str) -> Option<oci_spec::image::Platform> {
    let v: Value = serde_json::from_slice(&store.read_blob(config).ok()?).ok()?;
    let mut b = oci_spec::image::PlatformBuilder::default()
        .os(v["os"].as_str()?)
        .architecture(v["architecture"].as_str()?);
    if let Some(var) = v["variant"].as_str() {
        b = b.variant(var.to_string());
    }
    b.build().ok()
}

/// The first manifest of index `m` for `platform` (image-spec: "the first
/// matching entry SHOULD be used"); unknown media types and attestation
/// entries (platform unknown/unknown) are skipped.
fn select(
    m: &Manifest,
    r: &Reference,
    platform: &Platform,
) -> Result<(String, Option<oci_spec::image::Platform>)> {
    let v: Value = serde_json::from_slice(&m.bytes).map_err(|e| Error::Manifest {
        reference: r.to_string(),
        message: e.to_string(),
    })?;
    let mut available = Vec::new();
    for e in v["manifests"].as_array().into_iter().flatten() {
        let media = e["mediaType"].as_str().unwrap_or("");
        if !store::is_manifest_type(media) {
            continue;
        }
        let p = &e["platform"];
        let (os, arch) = (
            p["os"].as_str().unwrap_or(""),
            p["architecture"].as_str().unwrap_or(""),
        );
        let variant = p["variant"].as_str();
        available.push(match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        });
        if platform.matches(os, arch, variant) {
            if let Some(d) = e["digest"].as_str() {
                let desc: Option<Descriptor> = serde_json::from_value(e.clone()).ok();
                return Ok((d.to_string(), desc.and_then(|d| d.platform().clone())));
            }
        }
    }
    Err(Error::NoPlatform {
        platform: platform.to_string(),
        reference: r.to_string(),
        available: available.join(", "),
    })
}

/// `sha256:` and 12 hex digits, as Docker prints layer ids.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}
