//! `push`: layers and config (skipping those the registry has), then the
//! manifest (distribution-spec: blobs first, manifest last).

use crate::pull::{manifest_blobs, short};
use crate::reference::Reference;
use crate::registry::{self, Client, Manifest};
use crate::store::{self, Store};

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
    /// pushing an index is not supported yet
    #[error("pushing {0}: image indexes are not supported yet")]
    Index(String),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

/// Pushes the local image `local` (a full name in the store) to `dest`.
/// Returns the manifest digest.
pub fn push(
    client: &Client,
    store: &Store,
    local: &str,
    dest: &Reference,
    progress: &dyn Fn(&str),
) -> Result<String> {
    let image = store.get(local)?;
    let digest = image.descriptor.digest().to_string();
    let media_type = image.descriptor.media_type().to_string();
    if store::is_index_type(&media_type) {
        return Err(Error::Index(local.to_string()));
    }
    let bytes = store.read_blob(&digest)?;
    let (config, layers) = manifest_blobs(&bytes, local)?;
    for b in layers.iter().chain(std::iter::once(&config)) {
        let path = store.blob_path(&b.digest)?;
        let uploaded = client.push_blob(dest, &b.digest, b.size, &path)?;
        progress(&format!(
            "{}: {}",
            short(&b.digest),
            if uploaded {
                "pushed"
            } else {
                "layer already exists"
            }
        ));
    }
    let m = Manifest {
        bytes,
        media_type,
        digest: digest.clone(),
    };
    client.push_manifest(dest, dest.object(), &m)?;
    progress(&format!("{}: digest: {digest}", dest.object()));
    Ok(digest)
}
