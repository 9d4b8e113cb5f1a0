//! Named volumes (`<root>/volumes/<name>/_data`, as Docker's `local`
//! driver keeps them) and the `-v`, `--mount` and `--tmpfs` syntaxes.

use pier_image::bundle::MountSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors of volumes and mount options.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// a `-v`/`--mount`/`--tmpfs` value cannot be used
    #[error("invalid {flag} {value:?}: {reason}")]
    Spec {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// no volume has this name
    #[error("no such volume: {0}")]
    NoSuch(String),
    /// the volume is used by containers
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse {
        /// The volume.
        name: String,
        /// Container ids.
        users: String,
    },
    /// a file operation failed
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
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

/// A named volume, as `volume inspect` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// RFC 3339.
    pub created_at: String,
    /// Always `local`.
    pub driver: String,
    /// `-l` labels.
    pub labels: BTreeMap<String, String>,
    /// Host path of the data.
    pub mountpoint: PathBuf,
    /// The name.
    pub name: String,
    /// Always `local`.
    pub scope: String,
}

/// The volumes under a pier root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

fn valid_name(n: &str) -> bool {
    crate::names::valid_name(n) || (n.len() == 1 && n.as_bytes()[0].is_ascii_alphanumeric())
}

impl Volumes {
    /// The volumes of pier root `root`.
    pub fn open(root: &Path) -> Result<Volumes> {
        let dir = root.join("volumes");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(Volumes { dir })
    }

    /// Creates `name` (a random name when `None`); an existing volume is
    /// returned as it is, as Docker does. The bool says whether it is new.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let name = match name {
            Some(n) => n.to_string(),
            None => crate::names::new_id().map_err(io_err("read", Path::new("/dev/urandom")))?,
        };
        if !valid_name(&name) {
            return Err(Error::Spec {
                flag: "volume name",
                value: name,
                reason: "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".into(),
            });
        }
        if let Ok(v) = self.get(&name) {
            return Ok((v, false));
        }
        let dir = self.dir.join(&name);
        let data = dir.join("_data");
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        fs::create_dir_all(tmp.join("_data")).map_err(io_err("create", &tmp))?;
        let v = Volume {
            created_at: crate::time::now(),
            driver: "local".into(),
            labels,
            mountpoint: data,
            name: name.clone(),
            scope: "local".into(),
        };
        let meta = serde_json::to_vec_pretty(&v)
            .map_err(io::Error::other)
            .map_err(io_err("encode", &dir))?;
        fs::write(tmp.join("volume.json"), meta).map_err(io_err("write", &tmp))?;
        match fs::rename(&tmp, &dir) {
            Ok(()) => Ok((v, true)),
            // Made by someone else meanwhile.
            Err(_) if dir.join("volume.json").exists() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok((self.get(&name)?, false))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(io_err("create", &dir)(e))
            }
        }
    }

    /// The volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(Error::NoSuch(name.into()));
        }
        let meta = self.dir.join(name).join("volume.json");
        let data = fs::read(&meta).map_err(|_| Error::NoSuch(name.into()))?;
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            op: "parse",
            path: meta,
            source: io::Error::other(e),
        })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)
            .map_err(io_err("read", &self.dir))?
            .flatten()
        {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with('.') {
                if let Ok(v) = self.get(&n) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes `name`; `users` are the containers that use it.
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        self.get(name)?;
        if !users.is_empty() {
            return Err(Error::InUse {
                name: name.into(),
                users: users.join(", "),
            });
        }
        let dir = self.dir.join(name);
        fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))
    }

    /// Copies what the image has at `target` into a new, empty volume, as
    /// Docker does on a volume's first use. `target` is resolved inside
    /// `rootfs`, so an image whose `/data` is a symlink to a host path
    /// copies nothing from the host.
    pub fn populate(&self, v: &Volume, rootfs: &Path, target: &str) -> Result<()> {
        let is_empty = fs::read_dir(&v.mountpoint)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_empty {
            return Ok(());
        }
        let Some(src) = open_dir_in_root(rootfs, target.trim_start_matches('/')) else {
            return Ok(());
        };
        // `cp -a` keeps owners, modes, times, links and special files; it
        // reads the directory through the fd we resolved.
        let fd = src.as_raw_fd();
        let out = Command::new("cp")
            .arg("-a")
            .arg(format!("/proc/self/fd/{fd}/."))
            .arg(&v.mountpoint)
            .output()
            .map_err(io_err("run cp for", &v.mountpoint))?;
        if !out.status.success() {
            return Err(Error::Io {
                op: "copy image content into",
                path: v.mountpoint.clone(),
                source: io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            });
        }
        Ok(())
    }
}

/// Opens directory `rel` inside `root` (openat2 RESOLVE_IN_ROOT), without
/// close-on-exec so a child can read it; `None` if it is not a directory.
fn open_dir_in_root(root: &Path, rel: &str) -> Option<OwnedFd> {
    let rootfd = fs::File::open(root).ok()?;
    let c = std::ffi::CString::new(if rel.is_empty() { "." } else { rel }).ok()?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_DIRECTORY) as u64,
        mode: 0,
        resolve: 0x10 | 0x02, // RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    };
    // SAFETY: a valid path and an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            rootfd.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    // SAFETY: a new fd that we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A `-v`/`--mount` request before volumes are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountArg {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path (bind), volume name (volume; empty = anonymous), empty (tmpfs).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub readonly: bool,
    /// Other options.
    pub options: Vec<String>,
    /// Do not copy image content into a new volume.
    pub nocopy: bool,
    /// `--mount type=bind` wants the source to exist; `-v` creates it.
    pub create_source: bool,
}

const PROPAGATION: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Parses `-v [src:]dst[:opts]`.
pub fn parse_volume(spec: &str) -> Result<MountArg> {
    let bad = |reason: &str| Error::Spec {
        flag: "-v",
        value: spec.into(),
        reason: reason.into(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] if d.starts_with('/') => (*s, *d, ""),
        [d, o] => ("", *d, *o),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(bad("want [SOURCE:]TARGET[:OPTIONS]")),
    };
    if !dst.starts_with('/') {
        return Err(bad("the target must be an absolute path"));
    }
    let mut m = MountArg {
        kind: if src.starts_with('/') || src.starts_with('.') {
            "bind".into()
        } else {
            "volume".into()
        },
        source: src.into(),
        target: dst.into(),
        readonly: false,
        options: Vec::new(),
        nocopy: false,
        create_source: true,
    };
    if m.kind == "bind" && !src.starts_with('/') {
        return Err(bad("a bind mount source must be an absolute path"));
    }
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => m.readonly = true,
            "rw" => m.readonly = false,
            "nocopy" => m.nocopy = true,
            "z" | "Z" => {} // SELinux relabel: no SELinux on this host, nothing to relabel
            p if PROPAGATION.contains(&p) => m.options.push(p.into()),
            _ => return Err(bad(&format!("unknown option {o:?}"))),
        }
    }
    Ok(m)
}

/// Parses `--mount type=…,source=…,target=…[,readonly][,…]`.
pub fn parse_mount(spec: &str) -> Result<MountArg> {
    let bad = |reason: String| Error::Spec {
        flag: "--mount",
        value: spec.into(),
        reason,
    };
    let mut m = MountArg {
        kind: "volume".into(),
        source: String::new(),
        target: String::new(),
        readonly: false,
        options: Vec::new(),
        nocopy: false,
        create_source: false,
    };
    for field in spec.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => match v {
                "bind" | "volume" | "tmpfs" => m.kind = v.into(),
                _ => return Err(bad(format!("unsupported type {v:?}"))),
            },
            "source" | "src" => m.source = v.into(),
            "target" | "dst" | "destination" => m.target = v.into(),
            "readonly" | "ro" => m.readonly = v.is_empty() || v == "true" || v == "1",
            "bind-propagation" if PROPAGATION.contains(&v) => m.options.push(v.into()),
            "volume-nocopy" => m.nocopy = v.is_empty() || v == "true",
            "tmpfs-size" => m.options.push(format!("size={v}")),
            "tmpfs-mode" => m.options.push(format!("mode={v}")),
            _ => return Err(bad(format!("unknown field {field:?}"))),
        }
    }
    if !m.target.starts_with('/') {
        return Err(bad("target must be an absolute path".into()));
    }
    if m.kind == "bind" && !m.source.starts_with('/') {
        return Err(bad("a bind source must be an absolute path".into()));
    }
    if m.kind == "tmpfs" && !m.source.is_empty() {
        return Err(bad("a tmpfs has no source".into()));
    }
    Ok(m)
}

/// Parses `--tmpfs /path[:opts]`.
pub fn parse_tmpfs(spec: &str) -> Result<MountArg> {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !target.starts_with('/') {
        return Err(Error::Spec {
            flag: "--tmpfs",
            value: spec.into(),
            reason: "the target must be an absolute path".into(),
        });
    }
    Ok(MountArg {
        kind: "tmpfs".into(),
        source: String::new(),
        target: target.into(),
        readonly: false,
        options: opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect(),
        nocopy: false,
        create_source: false,
    })
}

impl MountArg {
    /// The runtime mount, for a resolved source.
    pub fn to_spec(&self, source: &Path) -> MountSpec {
        MountSpec {
            kind: self.kind.clone(),
            source: source.display().to_string(),
            target: self.target.clone(),
            readonly: self.readonly,
            options: self.options.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let v = parse_volume("data:/srv:ro").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_str(), v.readonly),
            ("volume", "data", true)
        );
        let b = parse_volume("/host:/c:rshared").unwrap();
        assert_eq!(
            (b.kind.as_str(), b.options.clone()),
            ("bind", vec!["rshared".to_string()])
        );
        let anon = parse_volume("/cache").unwrap();
        assert_eq!((anon.kind.as_str(), anon.source.as_str()), ("volume", ""));
        assert!(parse_volume("data:relative")
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        assert!(parse_volume("/a:/b:bogus")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        let m = parse_mount("type=bind,src=/a,dst=/b,readonly").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.readonly, m.create_source),
            ("bind", true, false)
        );
        assert!(parse_mount("type=nfs,dst=/b")
            .unwrap_err()
            .to_string()
            .contains("nfs"));
        assert!(parse_mount("type=volume,target=/b,color=red").is_err());
        let t = parse_tmpfs("/run:size=1m,mode=700").unwrap();
        assert_eq!(t.options, ["size=1m", "mode=700"]);
    }

    #[test]
    fn volumes_create_list_remove() {
        let d = tempfile::tempdir().unwrap();
        let vs = Volumes::open(d.path()).unwrap();
        let (v, new) = vs.create(Some("data"), BTreeMap::new()).unwrap();
        assert!(new && v.mountpoint.is_dir());
        assert!(!vs.create(Some("data"), BTreeMap::new()).unwrap().1);
        assert_eq!(vs.list().unwrap().len(), 1);
        assert!(vs.remove("data", &["abc".into()]).is_err());
        vs.remove("data", &[]).unwrap();
        assert!(matches!(vs.get("data"), Err(Error::NoSuch(_))));
        assert!(vs.create(Some("../x"), BTreeMap::new()).is_err());
    }

    #[test]
    fn populate_stays_inside_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(rootfs.join("srv")).unwrap();
        fs::write(rootfs.join("srv/file"), "image data").unwrap();
        std::os::unix::fs::symlink("/etc", rootfs.join("evil")).unwrap();
        let vs = Volumes::open(d.path()).unwrap();
        let (v, _) = vs.create(Some("a"), BTreeMap::new()).unwrap();
        vs.populate(&v, &rootfs, "/srv").unwrap();
        assert_eq!(
            fs::read_to_string(v.mountpoint.join("file")).unwrap(),
            "image data"
        );
        let (w, _) = vs.create(Some("b"), BTreeMap::new()).unwrap();
        vs.populate(&w, &rootfs, "/evil").unwrap();
        // /evil -> /etc resolves to rootfs/etc, which does not exist.
        assert!(!w.mountpoint.join("passwd").exists());
    }
}
