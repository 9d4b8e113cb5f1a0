//! Layer snapshots and container root filesystems.
//!
//! Each layer is unpacked once, in overlayfs form (whiteouts kept as 0/0
//! character devices, opaque directories marked), into
//! `<root>/snapshots/sha256/<diff id>/fs`, and shared by every image and
//! container that has it. A container's rootfs is an overlay of those
//! snapshots with its own upper directory. Where overlayfs is missing (or
//! `PIER_SNAPSHOTTER=copy`), every layer is applied to a private copy
//! instead, as containerd's native snapshotter does.
//!
//! A snapshot is written under a temporary name and renamed into place
//! only once complete, with a per-layer lock, so a killed unpack never
//! leaves a half-written snapshot that later containers would use.

use crate::images::{self, ImageInfo};
use crate::pull::manifest_blobs;
use crate::store::{self, Store};
use crate::unpack::{self, apply_layer, unpack_layer_diff};
use serde_json::Value;
use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Errors preparing snapshots or root filesystems.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// listing images failed
    #[error(transparent)]
    Images(#[from] images::Error),
    /// unpacking a layer failed
    #[error("failed to unpack layer {layer}: {source}")]
    Unpack {
        /// The layer's digest.
        layer: String,
        /// What went wrong.
        source: unpack::Error,
    },
    /// no local image has this name or id
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// the manifest or config is unusable
    #[error("invalid image {0}: {1}")]
    Image(String, String),
    /// a filesystem operation failed
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// the overlay mount options do not fit in a page
    #[error("image has too many layers ({0}) for one overlay mount")]
    TooManyLayers(usize),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A local image resolved to its manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// Full name (or the id the user gave).
    pub name: String,
    /// Image id: the config digest.
    pub id: String,
    /// The parsed image config.
    pub config: Value,
    /// Layer blob digests, bottom first.
    pub layers: Vec<String>,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
}

impl Image {
    /// Finds `what` (a reference, or an image id or a unique prefix of one)
    /// in `store`.
    pub fn resolve(store: &Store, what: &str) -> Result<Image> {
        let list = images::list(store)?;
        let info = find(&list, what).ok_or_else(|| Error::NoSuchImage(what.to_string()))?;
        let manifest = store.read_blob(&info.digest)?;
        let bad = |m: String| Error::Image(info.name.clone(), m);
        let (config, layers) =
            manifest_blobs(&manifest, &info.name).map_err(|e| bad(e.to_string()))?;
        let config: Value = serde_json::from_slice(&store.read_blob(&config.digest)?)
            .map_err(|e| bad(format!("config: {e}")))?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != layers.len() {
            return Err(bad(format!(
                "{} layers but {} rootfs.diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        if let Some(d) = diff_ids
            .iter()
            .find(|d| crate::digest::sha256_hex(d).is_none())
        {
            return Err(bad(format!(
                "rootfs.diff_ids: {d:?} is not a sha256 digest"
            )));
        }
        Ok(Image {
            name: info.name.clone(),
            id: info.id.clone(),
            config,
            layers: layers.into_iter().map(|l| l.digest).collect(),
            diff_ids,
        })
    }
}

/// The image named `what`: by reference first, then by id prefix.
fn find<'a>(list: &'a [ImageInfo], what: &str) -> Option<&'a ImageInfo> {
    let by_name = crate::Reference::parse(what).ok().map(|r| r.to_string());
    if let Some(i) = list.iter().find(|i| Some(&i.name) == by_name.as_ref()) {
        return Some(i);
    }
    let hex = what.strip_prefix("sha256:").unwrap_or(what);
    if hex.len() < 3 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut ids = list
        .iter()
        .filter(|i| i.id["sha256:".len()..].starts_with(hex));
    let first = ids.next()?;
    // Several names of one image are fine; two images are ambiguous.
    ids.all(|i| i.id == first.id).then_some(first)
}

/// How container root filesystems are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshotter {
    /// Shared layer snapshots under an overlay.
    Overlay,
    /// A private copy of every layer.
    Copy,
}

impl Snapshotter {
    /// Overlay when the kernel has it, unless `PIER_SNAPSHOTTER=copy`.
    pub fn detect() -> Snapshotter {
        if std::env::var("PIER_SNAPSHOTTER").as_deref() == Ok("copy") {
            return Snapshotter::Copy;
        }
        match fs::read_to_string("/proc/filesystems") {
            Ok(f) if f.lines().any(|l| l.ends_with("\toverlay")) => Snapshotter::Overlay,
            _ => Snapshotter::Copy,
        }
    }
}

fn snapshots_dir(store: &Store) -> PathBuf {
    store.root().join("snapshots/sha256")
}

/// The snapshot of the layer with `diff_id`, unpacked from blob `layer`
/// if missing. Returns its `fs` directory.
pub fn layer_snapshot(store: &Store, layer: &str, diff_id: &str) -> Result<PathBuf> {
    let hex = crate::digest::sha256_hex(diff_id)
        .ok_or_else(|| Error::Image(layer.into(), format!("bad diff id {diff_id:?}")))?;
    let dir = snapshots_dir(store);
    let done = dir.join(hex);
    if done.join("fs").is_dir() {
        return Ok(done.join("fs"));
    }
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let _lock = store.lock(&format!("snapshots/sha256/.{hex}.lock"), true)?;
    if done.join("fs").is_dir() {
        return Ok(done.join("fs"));
    }
    let tmp = dir.join(format!(".tmp-{hex}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let fs_dir = tmp.join("fs");
    fs::create_dir_all(&fs_dir).map_err(io_err("create", &fs_dir))?;
    let result = store
        .open_blob(layer)
        .map_err(Error::from)
        .and_then(|blob| {
            unpack_layer_diff(&fs_dir, blob, Some(diff_id)).map_err(|source| Error::Unpack {
                layer: layer.to_string(),
                source,
            })
        })
        .and_then(|()| fs::rename(&tmp, &done).map_err(io_err("rename into place", &done)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| done.join("fs"))
}

/// A container's root filesystem.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// Where the container sees it (the bundle's `rootfs`).
    pub merged: PathBuf,
    /// Layer snapshots, top first (overlay order); empty for a copy.
    pub lowers: Vec<PathBuf>,
    /// The container's writable layer (overlay only).
    pub upper: PathBuf,
    /// overlayfs work directory (overlay only).
    pub work: PathBuf,
}

impl Rootfs {
    /// The rootfs of a container whose private directory is `dir`.
    pub fn at(dir: &Path) -> Rootfs {
        Rootfs {
            merged: dir.join("rootfs"),
            lowers: Vec::new(),
            upper: dir.join("diff"),
            work: dir.join("work"),
        }
    }

    /// Prepares the rootfs of `image` under `dir`: the layer snapshots (made
    /// as needed) and the container's upper and work dirs, or a full copy.
    pub fn prepare(store: &Store, image: &Image, dir: &Path, how: Snapshotter) -> Result<Rootfs> {
        let mut r = Rootfs::at(dir);
        fs::create_dir_all(&r.merged).map_err(io_err("create", &r.merged))?;
        match how {
            Snapshotter::Overlay => {
                for (layer, diff) in image.layers.iter().zip(&image.diff_ids) {
                    r.lowers.push(layer_snapshot(store, layer, diff)?);
                }
                r.lowers.reverse();
                for d in [&r.upper, &r.work] {
                    fs::create_dir_all(d).map_err(io_err("create", d))?;
                }
                // An image without layers still needs a lower dir.
                if r.lowers.is_empty() {
                    let empty = dir.join("empty");
                    fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
                    r.lowers.push(empty);
                }
                r.options()?;
            }
            Snapshotter::Copy => {
                for (layer, diff) in image.layers.iter().zip(&image.diff_ids) {
                    apply_layer(&r.merged, store.open_blob(layer)?, Some(diff)).map_err(
                        |source| Error::Unpack {
                            layer: layer.clone(),
                            source,
                        },
                    )?;
                }
            }
        }
        Ok(r)
    }

    fn options(&self) -> Result<String> {
        let lowers: Vec<String> = self
            .lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            self.upper.display(),
            self.work.display()
        );
        // mount(2) copies at most one page of options.
        if opts.len() >= 4096 {
            return Err(Error::TooManyLayers(self.lowers.len()));
        }
        Ok(opts)
    }

    /// Mounts the overlay on `merged` (nothing to do for a copy, or when
    /// it is already mounted).
    pub fn mount(&self) -> Result<()> {
        if self.lowers.is_empty() || is_mountpoint(&self.merged) {
            return Ok(());
        }
        let opts = self.options()?;
        let c = |s: &[u8]| CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
        let target =
            c(self.merged.as_os_str().as_bytes()).map_err(io_err("mount", &self.merged))?;
        let data = c(opts.as_bytes()).map_err(io_err("mount", &self.merged))?;
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                c"overlay".as_ptr(),
                target.as_ptr(),
                c"overlay".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if r < 0 {
            return Err(Error::Io {
                op: "mount overlay on",
                path: self.merged.clone(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Unmounts the overlay (detached, so a lingering process cannot keep
    /// it busy); no error when it is not mounted.
    pub fn unmount(&self) -> Result<()> {
        unmount_all(&self.merged)
    }
}

/// Detaches every mount stacked on `path`.
pub fn unmount_all(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
        .map_err(io_err("unmount", path))?;
    while is_mountpoint(path) {
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(Error::Io {
                op: "unmount",
                path: path.to_owned(),
                source: e,
            });
        }
    }
    Ok(())
}

/// Whether `path` is a mount point (per /proc/self/mountinfo, which also
/// sees bind mounts of a directory on itself).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the snapshots of layers that no local image has any more.
/// Returns how many were removed. Callers keep images that containers use.
pub fn gc(store: &Store) -> Result<usize> {
    let dir = snapshots_dir(store);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut live = HashSet::new();
    for info in images::list(store)? {
        if let Ok(image) = Image::resolve(store, &info.name) {
            live.extend(
                image
                    .diff_ids
                    .iter()
                    .filter_map(|d| crate::digest::sha256_hex(d).map(String::from)),
            );
        }
    }
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || live.contains(&name) {
            continue;
        }
        let _lock = store.lock(&format!("snapshots/sha256/.{name}.lock"), true)?;
        let path = e.path();
        fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
        let _ = fs::remove_file(dir.join(format!(".{name}.lock")));
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/a\040b\011c\\"), "/a b\tc\\\\");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
