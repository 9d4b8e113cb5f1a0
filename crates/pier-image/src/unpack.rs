//! Applying layers to a directory (image-spec `layer.md`): entries are
//! *applied*, not extracted — whiteouts (`.wh.NAME`) delete from lower
//! layers, opaque markers (`.wh..wh..opq`) hide a directory's lower
//! children, and an entry replaces whatever was at its path unless both are
//! directories.
//!
//! Hostile layers cannot write outside the target: `tar` only parses;
//! every parent directory is resolved with openat2(RESOLVE_IN_ROOT), so a
//! symlink planted by an earlier entry or layer (`a -> /etc`, `a -> ../..`)
//! resolves inside the target as it would inside the container; the last
//! component is created with `*at` calls that never follow it (O_EXCL,
//! O_NOFOLLOW, AT_SYMLINK_NOFOLLOW); names and hardlink targets with `..`
//! are refused, and a leading `/` means the target's root (the CVE class of tar-rs RUSTSEC-2018-0002
//! and the runtime escapes listed in libpathrs' avoidable-vulnerabilities).

use crate::digest::HashReader;
use crate::pull::manifest_blobs;
use crate::store::{self, Store};
use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Errors applying a layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// a tar entry tries to leave the target
    #[error("refusing layer entry {0:?}: path escapes the root")]
    Escape(String),
    /// a whiteout names nothing
    #[error("invalid whiteout {0:?}")]
    Whiteout(String),
    /// a system call failed on a path of the target
    #[error("failed to {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path inside the target.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// the layer is not a valid tar stream
    #[error("failed to read layer: {0}")]
    Tar(io::Error),
    /// the uncompressed layer does not match the config's DiffID
    #[error("layer DiffID mismatch: config says {expected}, content is {actual}")]
    DiffId {
        /// From rootfs.diff_ids.
        expected: String,
        /// Of the uncompressed stream.
        actual: String,
    },
    /// the store failed
    #[error(transparent)]
    Store(#[from] store::Error),
    /// the manifest or config is unusable
    #[error("invalid image {0}: {1}")]
    Image(String, String),
}

/// A local `Result` alias.
pub type Result<T> = std::result::Result<T, Error>;

fn os_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_string(),
        source,
    }
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2) of `rel` with `root` as the root directory.
fn open_in_root(root: &OwnedFd, rel: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
    let c = cstr(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: a valid NUL-terminated path and an open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a new fd that we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = last_err();
        if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) {
            return Err(e);
        }
    }
}

fn openat(dir: &OwnedFd, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: a valid NUL-terminated name; the fd returned is checked.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: zeroed stat is a valid plain-data value to be filled in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid name and a stat buffer we own.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(last_err());
    }
    Ok(st)
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes `name` in `dir` and, for a directory, everything below it,
/// never following symlinks.
fn remove_all_at(dir: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let st = match lstat_at(dir, name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let c = cstr(name)?;
    if is_dir(&st) {
        let sub = openat(
            dir,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        clear_dir(&sub, &HashSet::new(), b"")?;
        // SAFETY: valid name.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) } < 0 {
            return Err(last_err());
        }
    } else {
        // SAFETY: valid name.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) } < 0 {
            return Err(last_err());
        }
    }
    Ok(())
}

/// Removes the children of `dir` (at `prefix` inside the root) except the
/// paths in `keep`.
fn clear_dir(dir: &OwnedFd, keep: &HashSet<Vec<u8>>, prefix: &[u8]) -> io::Result<()> {
    // The fd's own directory, listed through procfs: no path resolution.
    let names: Vec<Vec<u8>> = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().as_bytes().to_vec())
        .collect();
    for n in names {
        let full = join(prefix, &n);
        if !keep.contains(&full) {
            remove_all_at(dir, &n)?;
        }
    }
    Ok(())
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        name.to_vec()
    } else {
        [prefix, b"/", name].concat()
    }
}

/// Splits an entry name into clean components. A leading `/` means the
/// root (containerd and umoci clean names the same way; umoci itself writes
/// `/` for the root entry); `..` is refused.
fn components(raw: &[u8]) -> Result<Vec<&[u8]>> {
    let show = || String::from_utf8_lossy(raw).into_owned();
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(Error::Escape(show())),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Opens (creating as needed, mode 0755) the directory `comps` inside the
/// root, resolving every component inside it.
fn mkdir_all(root: &OwnedFd, comps: &[&[u8]]) -> Result<OwnedFd> {
    let mut fd =
        open_in_root(root, b".", libc::O_PATH | libc::O_DIRECTORY).map_err(os_err("open", "/"))?;
    let mut path = Vec::new();
    for c in comps {
        path = join(&path, c);
        let shown = String::from_utf8_lossy(&path).into_owned();
        match open_in_root(root, &path, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(f) => fd = f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let name = cstr(c).map_err(os_err("create", &shown))?;
                // SAFETY: valid name, relative to a directory fd we hold.
                if unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755) } < 0 {
                    return Err(Error::Io {
                        op: "create directory",
                        path: shown,
                        source: last_err(),
                    });
                }
                fd = open_in_root(root, &path, libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(os_err("open", &shown))?;
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "open directory",
                    path: shown,
                    source: e,
                })
            }
        }
    }
    Ok(fd)
}

/// Picks the decompressor by magic bytes (media types sometimes lie):
/// gzip (multi-member), zstd, else plain tar.
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut b = BufReader::with_capacity(64 << 10, r);
    let head = b.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(b)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(b)?))
    } else {
        Ok(Box::new(b))
    }
}

/// Pads a stream that ends mid tar block with zeros up to the block end.
/// umoci 0.4 (Debian 12) writes layers that end right after the last
/// file's data, without padding or end-of-archive blocks; GNU tar and Go
/// read them, the `tar` crate fails "unexpected EOF during skip". The
/// DiffID is hashed below this, over the real bytes only.
struct PadBlock<R> {
    inner: R,
    count: u64,
    pad: Option<u64>,
}

impl<R: Read> PadBlock<R> {
    fn new(inner: R) -> Self {
        PadBlock {
            inner,
            count: 0,
            pad: None,
        }
    }
}

impl<R: Read> Read for PadBlock<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pad.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.count += n as u64;
                return Ok(n);
            }
            self.pad = Some((512 - self.count % 512) % 512);
        }
        let left = self.pad.unwrap_or(0);
        let n = (left.min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        self.pad = Some(left - n as u64);
        Ok(n)
    }
}

/// How a layer's whiteouts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Applied: delete from the lower layers already in the target.
    Apply,
    /// Kept in overlayfs form for a layer snapshot used as a lower dir: a
    /// 0/0 character device per whiteout and `trusted.overlay.opaque=y` on
    /// opaque directories (Documentation/filesystems/overlayfs.rst).
    Overlay,
}

struct Applier {
    root: OwnedFd,
    privileged: bool,
    whiteouts: Whiteouts,
    /// Paths created by this layer (opaque markers keep them).
    seen: HashSet<Vec<u8>>,
    /// Directory mtimes, set last (later entries change them).
    dir_times: Vec<(Vec<u8>, i64)>,
}

/// Applies one (possibly compressed) layer to `target`. With
/// `diff_id`, the uncompressed stream must hash to it.
pub fn apply_layer(target: &Path, layer: impl Read, diff_id: Option<&str>) -> Result<()> {
    apply_layer_with(target, layer, diff_id, Whiteouts::Apply)
}

/// Writes one layer to an empty `target` as an overlayfs lower directory
/// (whiteouts kept as overlayfs markers). Needs root.
pub fn unpack_layer_diff(target: &Path, layer: impl Read, diff_id: Option<&str>) -> Result<()> {
    apply_layer_with(target, layer, diff_id, Whiteouts::Overlay)
}

fn apply_layer_with(
    target: &Path,
    layer: impl Read,
    diff_id: Option<&str>,
    whiteouts: Whiteouts,
) -> Result<()> {
    let root = File::open(target)
        .map(OwnedFd::from)
        .map_err(os_err("open", &target.display().to_string()))?;
    let mut a = Applier {
        root,
        // SAFETY: geteuid has no preconditions.
        privileged: unsafe { libc::geteuid() } == 0,
        whiteouts,
        seen: HashSet::new(),
        dir_times: Vec::new(),
    };
    let hashed = HashReader::new(decompress(layer).map_err(Error::Tar)?);
    let mut ar = tar::Archive::new(PadBlock::new(hashed));
    for entry in ar.entries().map_err(Error::Tar)? {
        let mut entry = entry.map_err(Error::Tar)?;
        a.apply(&mut entry)?;
    }
    a.finish();
    let (actual, _) = ar.into_inner().inner.finish().map_err(Error::Tar)?;
    if let Some(expected) = diff_id {
        if actual != expected {
            return Err(Error::DiffId {
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(())
}

impl Applier {
    fn apply<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let comps = components(&raw)?;
        let Some((name, parent)) = comps.split_last() else {
            return Ok(()); // the root itself: keep the target's attributes
        };
        let parent_path = parent.join(&b'/');
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            return self.whiteout(parent, &parent_path, hidden, &shown);
        }
        let dir = mkdir_all(&self.root, parent)?;
        let path = join(&parent_path, name);
        let h = e.header().clone();
        let kind = h.entry_type();
        // Replace what is there, unless both are directories.
        if let Ok(st) = lstat_at(&dir, name) {
            if !(kind.is_dir() && is_dir(&st)) {
                remove_all_at(&dir, name).map_err(os_err("remove", &shown))?;
            }
        }
        let mode = h.mode().map_err(Error::Tar)? & 0o7777;
        let uid = h.uid().map_err(Error::Tar)? as u32;
        let gid = h.gid().map_err(Error::Tar)? as u32;
        let mtime = h.mtime().map_err(Error::Tar)? as i64;
        let cname = cstr(name).map_err(os_err("create", &shown))?;
        let dfd = dir.as_raw_fd();
        use tar::EntryType as T;
        let fd: Option<OwnedFd> = match kind {
            T::Regular | T::Continuous => {
                let f = openat(
                    &dir,
                    name,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(os_err("create", &shown))?;
                let mut file = File::from(f);
                io::copy(e, &mut file).map_err(os_err("write", &shown))?;
                Some(OwnedFd::from(file))
            }
            T::Directory => {
                // SAFETY: valid name relative to a directory fd we hold.
                let r = unsafe { libc::mkdirat(dfd, cname.as_ptr(), 0o700) };
                if r < 0 && last_err().raw_os_error() != Some(libc::EEXIST) {
                    return Err(Error::Io {
                        op: "create directory",
                        path: shown,
                        source: last_err(),
                    });
                }
                self.dir_times.push((path.clone(), mtime));
                Some(
                    openat(
                        &dir,
                        name,
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    )
                    .map_err(os_err("open", &shown))?,
                )
            }
            T::Symlink => {
                let target = e.link_name_bytes().ok_or_else(|| {
                    Error::Tar(io::Error::other(format!("symlink {shown} without target")))
                })?;
                let ct = cstr(&target).map_err(os_err("create symlink", &shown))?;
                // SAFETY: valid strings; the link's target is never followed here.
                if unsafe { libc::symlinkat(ct.as_ptr(), dfd, cname.as_ptr()) } < 0 {
                    return Err(Error::Io {
                        op: "create symlink",
                        path: shown,
                        source: last_err(),
                    });
                }
                None
            }
            T::Link => {
                let target = e.link_name_bytes().unwrap_or_default().into_owned();
                let tcomps = components(&target)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(Error::Escape(String::from_utf8_lossy(&target).into_owned()));
                };
                let tdir = open_in_root(
                    &self.root,
                    &tparent.join(&b'/'),
                    libc::O_PATH | libc::O_DIRECTORY,
                )
                .map_err(os_err("resolve hardlink target of", &shown))?;
                let ctn = cstr(tname).map_err(os_err("link", &shown))?;
                // SAFETY: valid names relative to fds we hold; without
                // AT_SYMLINK_FOLLOW the target's last component is not followed.
                if unsafe { libc::linkat(tdir.as_raw_fd(), ctn.as_ptr(), dfd, cname.as_ptr(), 0) }
                    < 0
                {
                    return Err(Error::Io {
                        op: "hardlink",
                        path: shown,
                        source: last_err(),
                    });
                }
                self.seen.insert(path);
                return Ok(()); // a hardlink shares the target's attributes
            }
            T::Char | T::Block | T::Fifo => {
                let ft = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                if ft == libc::S_IFIFO || self.privileged {
                    let dev = libc::makedev(major, minor);
                    // SAFETY: valid name relative to a directory fd we hold.
                    if unsafe { libc::mknodat(dfd, cname.as_ptr(), ft | 0o600, dev) } < 0 {
                        return Err(Error::Io {
                            op: "mknod",
                            path: shown,
                            source: last_err(),
                        });
                    }
                } else {
                    // Unprivileged: an empty file in its place, as umoci does.
                    openat(
                        &dir,
                        name,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                        0,
                    )
                    .map_err(os_err("create", &shown))?;
                }
                None
            }
            // PAX and GNU headers are consumed by the parser; anything else
            // (sockets are not in tar; sparse files SHOULD NOT be used) is
            // skipped.
            _ => return Ok(()),
        };
        self.seen.insert(path);
        // Owner, then mode (chown clears setuid bits), xattrs, times.
        if let Some(fd) = &fd {
            if self.privileged {
                // SAFETY: an fd we own.
                if unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) } < 0 {
                    return Err(Error::Io {
                        op: "chown",
                        path: shown,
                        source: last_err(),
                    });
                }
            }
            // SAFETY: an fd we own.
            if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } < 0 {
                return Err(Error::Io {
                    op: "chmod",
                    path: shown,
                    source: last_err(),
                });
            }
            if let Ok(Some(exts)) = e.pax_extensions() {
                for ext in exts.flatten() {
                    let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                        continue;
                    };
                    let (Ok(ca), v) = (cstr(attr), ext.value_bytes()) else {
                        continue;
                    };
                    // Best effort, as containerd and umoci: user.* may be
                    // refused by the filesystem or when unprivileged.
                    // SAFETY: valid name and a value buffer of the length passed.
                    unsafe {
                        libc::fsetxattr(fd.as_raw_fd(), ca.as_ptr(), v.as_ptr().cast(), v.len(), 0)
                    };
                }
            }
            if kind != T::Directory {
                set_times(dfd, &cname, mtime);
            }
        } else {
            if self.privileged {
                // SAFETY: valid name; AT_SYMLINK_NOFOLLOW changes a symlink itself.
                unsafe { libc::fchownat(dfd, cname.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
            }
            if kind != T::Symlink {
                // SAFETY: valid name of a node we just created (not a symlink).
                unsafe { libc::fchmodat(dfd, cname.as_ptr(), mode, 0) };
            }
            set_times(dfd, &cname, mtime);
        }
        Ok(())
    }

    fn whiteout(
        &mut self,
        parent: &[&[u8]],
        parent_path: &[u8],
        hidden: &[u8],
        shown: &str,
    ) -> Result<()> {
        if self.whiteouts == Whiteouts::Overlay {
            return self.overlay_whiteout(parent, hidden, shown);
        }
        let dir = match open_in_root(&self.root, parent_path, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if hidden == b".wh..opq" {
                    mkdir_all(&self.root, parent)?;
                }
                return Ok(());
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "open",
                    path: shown.into(),
                    source: e,
                })
            }
        };
        if hidden == b".wh..opq" {
            // Hide the lower children; keep what this layer put there.
            return clear_dir(&dir, &self.seen, parent_path)
                .map_err(os_err("clear opaque directory", shown));
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(Error::Whiteout(shown.into()));
        }
        remove_all_at(&dir, hidden).map_err(os_err("remove", shown))
    }

    fn overlay_whiteout(&mut self, parent: &[&[u8]], hidden: &[u8], shown: &str) -> Result<()> {
        mkdir_all(&self.root, parent)?;
        // Reopened for reading: fsetxattr refuses the O_PATH fd of mkdir_all.
        let dir = open_in_root(
            &self.root,
            &parent.join(&b'/'),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
        .map_err(os_err("open", shown))?;
        if hidden == b".wh..opq" {
            let (name, value) = (c"trusted.overlay.opaque", b"y");
            // SAFETY: a directory fd we own, a valid name and a value buffer
            // of the length passed.
            let r = unsafe {
                libc::fsetxattr(dir.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), 1, 0)
            };
            if r < 0 {
                return Err(Error::Io {
                    op: "mark opaque",
                    path: shown.into(),
                    source: last_err(),
                });
            }
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(Error::Whiteout(shown.into()));
        }
        if lstat_at(&dir, hidden).is_ok() {
            remove_all_at(&dir, hidden).map_err(os_err("remove", shown))?;
        }
        let name = cstr(hidden).map_err(os_err("create whiteout", shown))?;
        // SAFETY: a valid name relative to a directory fd we hold.
        if unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), libc::S_IFCHR, 0) } < 0 {
            return Err(Error::Io {
                op: "create whiteout",
                path: shown.into(),
                source: last_err(),
            });
        }
        self.seen.insert(join(&parent.join(&b'/'), hidden));
        Ok(())
    }

    fn finish(&mut self) {
        // Deepest first, so setting a child's time does not change its parent's after.
        self.dir_times
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.iter().filter(|&&b| b == b'/').count()));
        for (p, t) in &self.dir_times {
            if let Ok(fd) = open_in_root(&self.root, p, libc::O_RDONLY | libc::O_DIRECTORY) {
                let ts = [timespec(*t), timespec(*t)];
                // SAFETY: an fd we own and two timespecs.
                unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) };
            }
        }
    }
}

fn timespec(t: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: t as libc::time_t,
        tv_nsec: 0,
    }
}

fn set_times(dfd: RawFd, name: &CString, t: i64) {
    let ts = [timespec(t), timespec(t)];
    // SAFETY: valid name and two timespecs; never follows a symlink.
    unsafe { libc::utimensat(dfd, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
}

/// Unpacks the image `name` of `store` into `target` (created if missing):
/// every layer in order, each checked against its DiffID.
pub fn unpack_image(store: &Store, name: &str, target: &Path) -> Result<()> {
    let image = store.get(name)?;
    let digest = image.descriptor.digest().to_string();
    let (config, layers) = manifest_blobs(&store.read_blob(&digest)?, name)
        .map_err(|e| Error::Image(name.into(), e.to_string()))?;
    let cfg: serde_json::Value = serde_json::from_slice(&store.read_blob(&config.digest)?)
        .map_err(|e| Error::Image(name.into(), e.to_string()))?;
    let diff_ids: Vec<&str> = cfg["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(Error::Image(
            name.into(),
            format!("{} layers but {} diff_ids", layers.len(), diff_ids.len()),
        ));
    }
    std::fs::create_dir_all(target).map_err(os_err("create", &target.display().to_string()))?;
    for (l, d) in layers.iter().zip(diff_ids) {
        apply_layer(target, store.open_blob(&l.digest)?, Some(d))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// Builds a tar with names written raw (tar::Builder refuses `..`).
    struct Tar(tar::Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Self {
            Tar(tar::Builder::new(Vec::new()))
        }
        fn add(&mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> &mut Self {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(1_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.add(name, tar::EntryType::Regular, "", data)
        }
        fn dir(&mut self, name: &str) -> &mut Self {
            self.add(name, tar::EntryType::Directory, "", b"")
        }
        fn symlink(&mut self, name: &str, to: &str) -> &mut Self {
            self.add(name, tar::EntryType::Symlink, to, b"")
        }
        fn hardlink(&mut self, name: &str, to: &str) -> &mut Self {
            self.add(name, tar::EntryType::Link, to, b"")
        }
        fn bytes(&mut self) -> Vec<u8> {
            std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
                .into_inner()
                .unwrap()
        }
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        root: std::path::PathBuf,
        outside: std::path::PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "keep").unwrap();
        Dirs {
            _tmp: tmp,
            root,
            outside,
        }
    }

    fn outside_untouched(d: &Dirs) {
        let names: Vec<_> = fs::read_dir(&d.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["secret"]);
        assert_eq!(
            fs::read_to_string(d.outside.join("secret")).unwrap(),
            "keep"
        );
        assert_eq!(fs::metadata(d.outside.join("secret")).unwrap().nlink(), 1);
    }

    #[test]
    fn layers_with_whiteouts_opaque_dirs_and_links() {
        let d = dirs();
        let l1 = Tar::new()
            .dir("etc/")
            .file("etc/passwd", b"root:x:0:0::/:/bin/sh\n")
            .dir("a/")
            .file("a/old", b"1")
            .dir("a/sub/")
            .file("a/sub/deep", b"1")
            .file("gone", b"1")
            .dir("opq/")
            .file("opq/lower", b"1")
            .symlink("lib", "/usr/lib")
            .hardlink("etc/passwd.hl", "etc/passwd")
            .bytes();
        apply_layer(&d.root, &l1[..], Some(&sha256(&l1))).unwrap();
        let r = &d.root;
        assert_eq!(
            fs::read_link(r.join("lib")).unwrap().to_str(),
            Some("/usr/lib")
        );
        assert_eq!(fs::metadata(r.join("etc/passwd")).unwrap().nlink(), 2);
        assert_eq!(
            fs::metadata(r.join("etc/passwd"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
        assert_eq!(fs::metadata(r.join("a")).unwrap().mtime(), 1_000_000);
        // Layer 2, zstd: whiteouts, an opaque dir, a file replacing a dir.
        let l2 = Tar::new()
            .file(".wh.gone", b"")
            .file("a/.wh.sub", b"")
            .file("opq/new", b"2")
            .file("opq/.wh..wh..opq", b"")
            .file("a/old", b"2")
            .bytes();
        let z = zstd::encode_all(&l2[..], 1).unwrap();
        apply_layer(&d.root, &z[..], Some(&sha256(&l2))).unwrap();
        assert!(!r.join("gone").exists());
        assert!(!r.join("a/sub").exists());
        assert_eq!(fs::read_to_string(r.join("a/old")).unwrap(), "2");
        assert!(!r.join("opq/lower").exists());
        assert_eq!(fs::read_to_string(r.join("opq/new")).unwrap(), "2");
        assert!(!r.join("opq/.wh..wh..opq").exists());
        // Layer 3, gzip: a file where a directory was.
        let l3 = Tar::new().file("a", b"3").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l3).unwrap();
        let gz = gz.finish().unwrap();
        apply_layer(&d.root, &gz[..], Some(&sha256(&l3))).unwrap();
        assert_eq!(fs::read_to_string(r.join("a")).unwrap(), "3");
        // A wrong DiffID is reported.
        let e = apply_layer(&d.root, &l3[..], Some(&sha256(b"x"))).unwrap_err();
        assert!(matches!(e, Error::DiffId { .. }), "{e}");
        outside_untouched(&d);
    }

    #[test]
    fn hostile_layers_do_not_escape() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("dotdot", Tar::new().file("../outside/x", b"x").bytes()),
            (
                "deep dotdot",
                Tar::new().file("a/../../../outside/x", b"x").bytes(),
            ),
            (
                "absolute",
                Tar::new().file("/tmp/pier-escape-test", b"x").bytes(),
            ),
            (
                "symlink to / then write through it",
                Tar::new().symlink("evil", "/").file("evil/x", b"x").bytes(),
            ),
            (
                "relative symlink out then write through it",
                Tar::new()
                    .symlink("evil", "../outside")
                    .file("evil/x", b"x")
                    .bytes(),
            ),
            (
                "symlink up and up",
                Tar::new()
                    .dir("d/")
                    .symlink("d/up", "../../../../..")
                    .file("d/up/outside/x", b"x")
                    .bytes(),
            ),
            (
                "symlinked parent replaced mid-layer",
                Tar::new()
                    .dir("p/")
                    .file("p/a", b"a")
                    .symlink("p", "../outside")
                    .file("p/x", b"x")
                    .bytes(),
            ),
            (
                "hardlink out",
                Tar::new().hardlink("h", "../outside/secret").bytes(),
            ),
            (
                "hardlink absolute",
                Tar::new().hardlink("h", "/etc/passwd").bytes(),
            ),
            (
                "hardlink through a symlink",
                Tar::new()
                    .symlink("s", "../outside")
                    .hardlink("h", "s/secret")
                    .bytes(),
            ),
            (
                "whiteout through a symlink",
                Tar::new()
                    .symlink("s", "../outside")
                    .file("s/.wh.secret", b"")
                    .bytes(),
            ),
            (
                "opaque through a symlink",
                Tar::new()
                    .symlink("s", "../outside")
                    .file("s/.wh..wh..opq", b"")
                    .bytes(),
            ),
            (
                "symlink then overwrite the symlink target name",
                Tar::new()
                    .symlink("f", "../outside/secret")
                    .file("f", b"x")
                    .bytes(),
            ),
        ];
        for (what, layer) in cases {
            let d = dirs();
            let res = apply_layer(&d.root, &layer[..], None);
            outside_untouched(&d);
            assert!(!Path::new("/tmp/pier-escape-test").exists(), "{what}");
            // Whatever was created stays under the root.
            if let Ok(()) = res {
                for e in walk(&d.root) {
                    assert!(e.starts_with(&d.root), "{what}: {e:?}");
                }
            }
        }
        // A symlink to / is the root's own /: the write lands inside.
        let d = dirs();
        let layer = Tar::new().symlink("evil", "/").file("evil/x", b"x").bytes();
        apply_layer(&d.root, &layer[..], None).unwrap();
        assert_eq!(fs::read_to_string(d.root.join("x")).unwrap(), "x");
        // The refusals name the entry.
        let d = dirs();
        let e = apply_layer(&d.root, &Tar::new().file("../x", b"x").bytes()[..], None).unwrap_err();
        assert!(matches!(e, Error::Escape(_)), "{e}");
        // Absolute names are the root's: inside, or not found.
        let layer = Tar::new()
            .file("/abs", b"x")
            .hardlink("h", "/etc/passwd")
            .bytes();
        let e = apply_layer(&d.root, &layer[..], None).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Io {
                    op: "resolve hardlink target of",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(fs::read_to_string(d.root.join("abs")).unwrap(), "x");
    }

    fn walk(p: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
        out
    }

    #[test]
    fn layer_without_final_padding() {
        // As umoci 0.4 writes them: no padding after the last file's data.
        let d = dirs();
        let mut l = Tar::new().file("a", b"hello").bytes();
        l.truncate(512 + 5);
        apply_layer(&d.root, &l[..], Some(&sha256(&l))).unwrap();
        assert_eq!(fs::read_to_string(d.root.join("a")).unwrap(), "hello");
    }

    #[test]
    fn devices_and_fifos() {
        let d = dirs();
        let mut t = Tar::new();
        t.add("fifo", tar::EntryType::Fifo, "", b"");
        let mut h = tar::Header::new_gnu();
        h.set_path("null").unwrap();
        h.set_entry_type(tar::EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        h.set_cksum();
        t.0.append(&h, &b""[..]).unwrap();
        apply_layer(&d.root, &t.bytes()[..], None).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(d.root.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let m = fs::symlink_metadata(d.root.join("null")).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(m.file_type().is_char_device());
            assert_eq!(m.rdev(), libc::makedev(1, 3));
        } else {
            assert!(m.file_type().is_file());
        }
    }
}
