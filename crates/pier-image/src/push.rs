//! `push`: layers and config (skipping those the registry has), then the
//! manifest (distribution-spec: blobs first, manifest last). An index goes
//! up whole: every child manifest's blobs, each child by digest, then the
//! index under the tag.

use crate::pull::{manifest_blobs, short};
use crate::reference::Reference;
use crate::registry::{self, Client, Manifest, Pushed};
use crate::store::{self, Store};
use std::collections::HashSet;

/// Errors of a push.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// talking to the registry failed
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// the local manifest is unusable
    #[error(transparent)]
    Manifest(#[from] crate::pull::Error),
    /// an index in the store is unusable
    #[error("invalid index {digest} of {image}: {message}")]
    Index {
        /// The local image.
        image: String,
        /// The index.
        digest: String,
        /// What is wrong.
        message: String,
    },
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// Pushes the local image `local` (a full name in the store) to `dest`.
/// Blobs the destination registry has in the image's own repository are
/// mounted rather than uploaded. Returns the manifest (or index) digest.
pub fn push(
    client: &Client,
    store: &Store,
    local: &str,
    dest: &Reference,
    progress: &dyn Fn(&str),
) -> Result<String> {
    // gc must not collect the image's blobs while they are read.
    let _content = store.lock_content()?;
    let image = store.get(local)?;
    let digest = image.descriptor.digest().to_string();
    let media_type = image.descriptor.media_type().to_string();
    // Mounting only works within one registry.
    let from = Reference::parse(local)
        .ok()
        .filter(|l| l.registry == dest.registry)
        .map(|l| l.repository);
    let mut p = Pusher {
        client,
        store,
        dest,
        from: from.as_deref(),
        done: HashSet::new(),
        progress,
    };
    let bytes = store.read_blob(&digest)?;
    if store::is_index_type(&media_type) {
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Index {
            image: local.into(),
            digest: digest.clone(),
            message: e.to_string(),
        })?;
        let children = v["manifests"].as_array().ok_or_else(|| Error::Index {
            image: local.into(),
            digest: digest.clone(),
            message: "no manifests".into(),
        })?;
        for c in children {
            let (Some(cd), Some(ct)) = (c["digest"].as_str(), c["mediaType"].as_str()) else {
                return Err(Error::Index {
                    image: local.into(),
                    digest: digest.clone(),
                    message: "a manifest without digest or mediaType".into(),
                });
            };
            if !store::is_manifest_type(ct) {
                return Err(Error::Index {
                    image: local.into(),
                    digest: digest.clone(),
                    message: format!("{cd}: cannot push entries of type {ct}"),
                });
            }
            let child = store.read_blob(cd)?;
            p.manifest(child, ct, cd, cd, local)?;
        }
    }
    p.manifest(bytes, &media_type, &digest, dest.object(), local)?;
    progress(&format!("{}: digest: {digest}", dest.object()));
    Ok(digest)
}

struct Pusher<'a> {
    client: &'a Client,
    store: &'a Store,
    dest: &'a Reference,
    from: Option<&'a str>,
    done: HashSet<String>,
    progress: &'a dyn Fn(&str),
}

impl Pusher<'_> {
    /// Pushes an image manifest's blobs (an index has none of its own),
    /// then the manifest under `object`.
    fn manifest(
        &mut self,
        bytes: Vec<u8>,
        media_type: &str,
        digest: &str,
        object: &str,
        local: &str,
    ) -> Result<()> {
        if store::is_manifest_type(media_type) {
            let (config, layers) = manifest_blobs(&bytes, local)?;
            for b in layers.iter().chain(std::iter::once(&config)) {
                if !self.done.insert(b.digest.clone()) {
                    continue;
                }
                let path = self.store.blob_path(&b.digest)?;
                if !path.is_file() {
                    return Err(store::Error::NoSuchImage(format!(
                        "{local}: blob {} is not in the store",
                        b.digest
                    ))
                    .into());
                }
                let how = self
                    .client
                    .push_blob_from(self.dest, &b.digest, b.size, &path, self.from)?;
                (self.progress)(&format!(
                    "{}: {}",
                    short(&b.digest),
                    match how {
                        Pushed::Exists => "layer already exists",
                        Pushed::Mounted => "mounted from another repository",
                        Pushed::Uploaded => "pushed",
                    }
                ));
            }
        }
        let m = Manifest {
            bytes,
            media_type: media_type.to_string(),
            digest: digest.to_string(),
        };
        self.client.push_manifest(self.dest, object, &m)?;
        Ok(())
    }
}
