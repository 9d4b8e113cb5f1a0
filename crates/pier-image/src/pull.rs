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

/// What a pull reports as it goes (`pier pull` draws bars or lines from it).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An index entry was chosen for the platform.
    Selected {
        /// The manifest chosen.
        digest: &'a str,
        /// The platform asked for.
        platform: &'a Platform,
    },
    /// A layer is about to be fetched, or is already in the store.
    Layer {
        /// The layer.
        digest: &'a str,
        /// Its size.
        size: u64,
        /// Already in the store: nothing to download.
        present: bool,
    },
    /// Bytes of a layer received so far (starts again at 0 on a retry).
    Progress {
        /// The layer.
        digest: &'a str,
        /// Received.
        done: u64,
        /// Expected.
        size: u64,
    },
    /// A layer was downloaded and verified.
    Done {
        /// The layer.
        digest: &'a str,
    },
    /// The manifest is stored and named.
    Stored {
        /// The manifest's digest.
        digest: &'a str,
    },
}

/// Pulls `r` for `platform` into `store`; `progress` gets one line per step.
pub fn pull(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Pulled> {
    pull_with(client, store, r, platform, &|e| match e {
        Event::Selected { digest, platform } => {
            progress(&format!("{r}: selected {digest} for {platform}"))
        }
        Event::Layer {
            digest,
            present: true,
            ..
        } => progress(&format!("{}: already exists", short(digest))),
        Event::Done { digest } => progress(&format!("{}: pull complete", short(digest))),
        Event::Stored { digest } => progress(&format!("Digest: {digest}")),
        Event::Layer { .. } | Event::Progress { .. } => {}
    })
}

/// Pulls `r` for `platform` into `store`, reporting [`Event`]s. A failed
/// pull removes the blobs it wrote (unless another pull, push or load is
/// running: then `image prune` will).
pub fn pull_with(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Pulled> {
    let written = std::sync::Mutex::new(Vec::new());
    // Blobs written before index.json names them must survive a gc.
    let content = store.lock_content()?;
    let res = pull_locked(client, store, r, platform, events, &written);
    drop(content);
    if res.is_err() {
        let written = written.into_inner().unwrap_or_else(|e| e.into_inner());
        // Best effort: the pull's own error is what the user needs.
        let _ = store.discard(&written);
    }
    res
}

fn pull_locked(
    client: &Client,
    store: &Store,
    r: &Reference,
    platform: &Platform,
    events: &(dyn Fn(Event<'_>) + Sync),
    written: &std::sync::Mutex<Vec<String>>,
) -> Result<Pulled> {
    let note = |d: &str| {
        if let Ok(mut w) = written.lock() {
            w.push(d.to_string());
        }
    };
    let mut m = client.manifest(r, r.object())?;
    let mut chosen_platform = None;
    if store::is_index_type(&m.media_type) {
        let (d, p) = select(&m, r, platform)?;
        events(Event::Selected {
            digest: &d,
            platform,
        });
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
    if !store.has_blob(&config.digest, config.size) {
        note(&config.digest);
        client.fetch_blob(r, &config.digest, config.size, store)?;
    }
    let queue = std::sync::Mutex::new(layers.iter().rev().collect::<Vec<_>>());
    let first_err = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(layers.len()) {
            s.spawn(|| loop {
                if first_err.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                let next = queue.lock().map(|mut q| q.pop()).ok().flatten();
                let Some(l) = next else { break };
                let present = store.has_blob(&l.digest, l.size);
                events(Event::Layer {
                    digest: &l.digest,
                    size: l.size,
                    present,
                });
                if present {
                    continue;
                }
                note(&l.digest);
                let on_bytes = |done| {
                    events(Event::Progress {
                        digest: &l.digest,
                        done,
                        size: l.size,
                    })
                };
                match client.fetch_blob_progress(r, &l.digest, l.size, store, &on_bytes) {
                    Ok(()) => events(Event::Done { digest: &l.digest }),
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
    let digest = crate::digest::sha256(&m.bytes);
    if !store.has_blob(&digest, m.bytes.len() as u64) {
        note(&digest);
        store.put_bytes(&m.bytes)?;
    }
    let mut desc = Descriptor::new(
        MediaType::from(m.media_type.as_str()),
        m.bytes.len() as u64,
        parse_digest(&digest)?,
    );
    let platform_of_config = config_platform(store, &config.digest);
    desc.set_platform(chosen_platform.or(platform_of_config));
    let name = r.to_string();
    store.set_ref(&name, &desc)?;
    events(Event::Stored { digest: &digest });
    Ok(Pulled {
        name,
        manifest: digest,
        config: config.digest,
    })
}

pub(crate) fn parse_digest(d: &str) -> Result<Digest> {
    Digest::try_from(d).map_err(|_| Error::Store(store::Error::BadDigest(d.to_string())))
}

pub(crate) fn config_platform(store: &Store, config: &str) -> Option<oci_spec::image::Platform> {
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
                // The child is fetched by this digest and checked against
                // it: anything but a sha256 digest would be fetched as a
                // tag, outside what a digest-pinned index covers.
                if crate::digest::sha256_hex(d).is_none() {
                    return Err(Error::Manifest {
                        reference: r.to_string(),
                        message: format!(
                            "index entry for {os}/{arch}: digest {d:?} is not a sha256 digest"
                        ),
                    });
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn index(digest: &str) -> Manifest {
        let bytes = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": 100,
                "platform": {"os": "linux", "architecture": "amd64"}
            }]
        })
        .to_string()
        .into_bytes();
        Manifest {
            digest: crate::digest::sha256(&bytes),
            bytes,
            media_type: "application/vnd.oci.image.index.v1+json".into(),
        }
    }

    #[test]
    fn select_takes_the_platform_entry_and_refuses_a_digest_that_is_not_one() {
        let r = Reference::parse("127.0.0.1:5000/busybox").expect("reference");
        let platform = Platform::parse("linux/amd64").expect("platform");
        let good = format!("sha256:{}", "a".repeat(64));
        let (d, _) = select(&index(&good), &r, &platform).expect("selected");
        assert_eq!(d, good);
        // A tag (or anything else) in the digest field would be fetched by
        // name, escaping the index's own digest.
        for bad in ["latest", "sha256:abc", "sha512:00", "../../x"] {
            let e = select(&index(bad), &r, &platform).expect_err(bad);
            assert!(e.to_string().contains("not a sha256 digest"), "{bad}: {e}");
        }
    }
}
