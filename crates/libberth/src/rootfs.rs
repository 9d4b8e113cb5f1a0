//! The container's root filesystem: mounts, devices, pivot_root, masked
//! and read-only paths. Runs in init, inside the new mount namespace.
//!
//! Every mount target inside the rootfs is resolved with openat2(2)
//! `RESOLVE_IN_ROOT` and mounted through its `/proc/self/fd` path, so a
//! symlink planted in the image (or swapped in by a racing container,
//! CVE-2021-30465) cannot redirect a mount onto the host.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use crate::mount_options::{self, MountOptions};
use crate::sys::{self, Leaf};
use crate::{Error, Result};

/// What rootfs setup needs besides the spec.
pub struct RootfsContext<'a> {
    /// The container's spec.
    pub spec: &'a Spec,
    /// The rootfs directory on the host, absolute.
    pub rootfs: &'a Path,
    /// The bundle directory, for relative bind sources.
    pub bundle: &'a Path,
    /// The container's cgroup path and the host's hierarchies, for `cgroup` mounts.
    pub cgroup_path: &'a str,
    /// The host's cgroup hierarchies.
    pub cgroups: &'a berth_cgroups::Layout,
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Whether the container has its own user namespace.
    pub userns: bool,
    /// Idmapped trees the parent prepared: (index in `mounts`, fd).
    pub idmapped: &'a [(usize, std::os::fd::RawFd)],
}

fn sys_err(op: &'static str, target: impl std::fmt::Display) -> impl FnOnce(Errno) -> Error {
    let target = target.to_string();
    move |errno| Error::Sys { op, target, errno }
}

fn do_mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> std::result::Result<(), Errno> {
    mount(src, target, fstype, flags, data)
}

/// Flags that a less privileged mount namespace cannot clear on a bind
/// remount (mount_namespaces(7), "locked" flags), read from the mount.
fn locked_flags(target: &str) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(target) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags as S;
    // ST_RELATIME (statvfs(3)); nix names it only for glibc.
    const ST_RELATIME: S = S::from_bits_retain(0x1000);
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (s, ms) in [
        (S::ST_NOSUID, MsFlags::MS_NOSUID),
        (S::ST_NODEV, MsFlags::MS_NODEV),
        (S::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (S::ST_RDONLY, MsFlags::MS_RDONLY),
        (S::ST_NOATIME, MsFlags::MS_NOATIME),
        (S::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(s) {
            m |= ms;
        }
    }
    m
}

/// A bind remount with `flags`; when the kernel refuses because the source
/// mount has locked flags (EPERM in a user namespace), retry keeping them.
fn bind_remount(target: &str, flags: MsFlags, what: &str) -> Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match do_mount(None, target, None, base | flags, None) {
        Err(Errno::EPERM) => {
            let locked = locked_flags(target)
                & (MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_RDONLY);
            do_mount(None, target, None, base | flags | locked, None)
                .map_err(sys_err("remount", what))
        }
        r => r.map_err(sys_err("remount", what)),
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err("open", path.display()))
    // SAFETY: open returned a new fd that we now own.
    .map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// Prepares everything before pivot_root: propagation, the rootfs bind,
/// the config's mounts in order, and /dev. Returns the open rootfs.
pub fn prepare(cx: &RootfsContext<'_>) -> Result<()> {
    let linux = cx.spec.linux().as_ref();
    let propagation = match linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("")
    {
        "" | "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
    };
    // Stop our mounts from propagating to the host (and, by default, the
    // host's from reaching us mid-setup).
    do_mount(None, "/", None, propagation, None).map_err(sys_err("set propagation of", "/"))?;
    // pivot_root(2) refuses a new root whose parent mount is shared.
    if propagation.contains(MsFlags::MS_SHARED) {
        if let Some(parent) = mount_point_of(cx.rootfs.parent().unwrap_or(Path::new("/"))) {
            do_mount(None, &parent, None, MsFlags::MS_PRIVATE, None)
                .map_err(sys_err("make private", &parent))?;
        }
    }
    let rootfs_str = cx.rootfs.to_string_lossy();
    do_mount(
        Some(&rootfs_str),
        &rootfs_str,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(sys_err("bind mount rootfs", &rootfs_str))?;
    let root = open_dir(cx.rootfs)?;

    let mounts = cx.spec.mounts().as_deref().unwrap_or_default();
    for (i, m) in mounts.iter().enumerate() {
        mount_one(cx, &root, i, m)?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && mount_options::parse(
                m.typ().as_deref(),
                m.options().as_deref().unwrap_or_default(),
            )
            .is_ok_and(|o| o.is_bind())
    });
    if !dev_is_bind {
        setup_dev(cx, &root)?;
    }
    Ok(())
}

/// The mount point containing `path`, from /proc/self/mountinfo.
fn mount_point_of(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .map(str::to_owned)
}

fn mount_one(cx: &RootfsContext<'_>, root: &OwnedFd, index: usize, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let what = format!("mounts[{index}] on {}", dest.display());
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = mount_options::parse(
        m.typ().as_deref(),
        m.options().as_deref().unwrap_or_default(),
    )
    .map_err(|b| Error::Init(format!("{what}: option {:?}: {}", b.option, b.reason)))?;
    if typ == "cgroup" {
        return mount_cgroup_v1(cx, root, dest, &opts, &what);
    }
    // proc and sysfs land exactly where the config says: a rootfs whose
    // /proc or /sys is a symlink is refused, as runc does, rather than
    // mounting them somewhere the link chose.
    if matches!(typ, "proc" | "sysfs") {
        let meta =
            std::fs::symlink_metadata(cx.rootfs.join(dest.strip_prefix("/").unwrap_or(dest)));
        if meta.is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Init(format!(
                "{what}: the {typ} mount destination is a symlink in the rootfs"
            )));
        }
    }
    if opts.is_bind() {
        let src = cx
            .bundle
            .join(m.source().as_deref().unwrap_or(Path::new("")));
        let meta = std::fs::metadata(&src).map_err(Error::io("stat bind source", &src))?;
        let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
        let target = sys::mkdir_all_in_root(root, dest, leaf)
            .map_err(sys_err("create mount target", &what))?;
        let src_s = src.to_string_lossy();
        if let Some((_, tree)) = cx.idmapped.iter().find(|(i, _)| *i == index) {
            // SAFETY: the parent opened this fd for us; it stays open until execve.
            let tree = std::mem::ManuallyDrop::new(unsafe {
                <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(*tree)
            });
            crate::idmap::attach(&tree, &target, &what)?;
        } else {
            do_mount(
                Some(&src_s),
                &sys::fd_path(&target),
                None,
                opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
                None,
            )
            .map_err(sys_err("bind mount", format!("{src_s} ({what})")))?;
        }
        let mounted =
            sys::open_in_root(root, dest, libc::O_PATH).map_err(sys_err("reopen", &what))?;
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            bind_remount(
                &sys::fd_path(&mounted),
                extra | (opts.flags & MsFlags::MS_REC),
                &what,
            )?;
        }
        return finish_mount(&mounted, &opts, &what);
    }
    let target = sys::mkdir_all_in_root(root, dest, Leaf::Dir)
        .map_err(sys_err("create mount target", &what))?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_owned());
    let label = cx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref());
    let data = crate::lsm::mount_data(typ, opts.is_bind(), opts.data_string(), label);
    let flags = opts.flags - MsFlags::MS_REMOUNT;
    do_mount(
        Some(&source),
        &sys::fd_path(&target),
        Some(typ),
        flags,
        data.as_deref(),
    )
    .map_err(sys_err(
        "mount",
        format!("{typ} ({what}, data {:?})", data.as_deref().unwrap_or("")),
    ))?;
    if opts.propagation.is_empty() && opts.attr_set == 0 && opts.attr_clr == 0 {
        return Ok(());
    }
    let mounted = sys::open_in_root(root, dest, libc::O_PATH).map_err(sys_err("reopen", &what))?;
    finish_mount(&mounted, &opts, &what)
}

/// Propagation and recursive attributes, applied on the new mount.
fn finish_mount(mounted: &OwnedFd, opts: &MountOptions, what: &str) -> Result<()> {
    for p in &opts.propagation {
        do_mount(None, &sys::fd_path(mounted), None, *p, None)
            .map_err(sys_err("set propagation of", what))?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        sys::mount_setattr_recursive(mounted, opts.attr_set, opts.attr_clr)
            .map_err(sys_err("set recursive attributes of", what))?;
    }
    Ok(())
}

/// A `cgroup` mount: a tmpfs holding one directory per host hierarchy.
/// With a cgroup namespace each is a fresh cgroup mount whose root is the
/// container's cgroup; without one, the container's own cgroup directory
/// is bind-mounted from the host, as runc does.
fn mount_cgroup_v1(
    cx: &RootfsContext<'_>,
    root: &OwnedFd,
    dest: &Path,
    opts: &MountOptions,
    what: &str,
) -> Result<()> {
    let v1: Vec<_> = cx.cgroups.hierarchies.iter().collect();
    let only_v2 = v1.iter().all(|h| h.unified);
    let target = sys::mkdir_all_in_root(root, dest, Leaf::Dir)
        .map_err(sys_err("create mount target", what))?;
    let base = opts.flags
        - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY);
    if only_v2 {
        do_mount(
            Some("cgroup2"),
            &sys::fd_path(&target),
            Some("cgroup2"),
            opts.flags - MsFlags::MS_REMOUNT,
            None,
        )
        .map_err(sys_err("mount cgroup2", what))?;
        return Ok(());
    }
    do_mount(
        Some("tmpfs"),
        &sys::fd_path(&target),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(sys_err("mount tmpfs", what))?;
    // The fresh, empty tmpfs: its directories are made and opened right
    // in it, not looked up from the rootfs's root each time.
    let tmpfs = sys::open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(sys_err("reopen", what))?;
    // The flags every bind below gets: all at once at the end when the
    // kernel has mount_setattr(2), else one remount per bind.
    let flags = base | (opts.flags & MsFlags::MS_RDONLY);
    let mut bound = Vec::new();
    for h in v1 {
        let name = h
            .mount_point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        let sub_what = format!("{what} ({name})");
        let t =
            sys::mkdir_open_at(&tmpfs, &name).map_err(sys_err("create mount target", &sub_what))?;
        if cx.cgroupns {
            let (fstype, data) = if h.unified {
                ("cgroup2", String::new())
            } else {
                ("cgroup", h.controllers.join(","))
            };
            let data = (!data.is_empty()).then_some(data);
            do_mount(
                Some(fstype),
                &sys::fd_path(&t),
                Some(fstype),
                flags,
                data.as_deref(),
            )
            .map_err(sys_err("mount cgroup", &sub_what))?;
        } else {
            let path = if cx.cgroup_path.is_empty() {
                // Rootless without its own cgroup: the caller's.
                own_cgroup(h).unwrap_or_default()
            } else {
                cx.cgroup_path.to_owned()
            };
            let host = h.mount_point.join(path.trim_start_matches('/'));
            let host_s = host.to_string_lossy();
            do_mount(
                Some(&host_s),
                &sys::fd_path(&t),
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(sys_err("bind mount cgroup", &sub_what))?;
            bound.push(name.clone());
        }
        // Co-mounted controllers (cpu,cpuacct) get a link per controller.
        if h.controllers.len() > 1 {
            for c in h
                .controllers
                .iter()
                .filter(|c| !c.starts_with("name=") && **c != name)
            {
                symlink_at(&tmpfs, &name, c).map_err(sys_err("symlink cgroup controller", c))?;
            }
        }
    }
    // The tmpfs and every bind in it (and below them) in one call; a
    // kernel without mount_setattr(2), or a seccomp filter refusing it
    // (berth nested in an older container), gets one remount per bind.
    let remount_each = match sys::mount_setattr_recursive(&tmpfs, mount_attrs(flags), 0) {
        Ok(()) => false,
        Err(Errno::EPERM | Errno::ENOSYS) => true,
        Err(e) => return Err(sys_err("set the attributes of", what)(e)),
    };
    if remount_each {
        for name in &bound {
            let sub_what = format!("{what} ({name})");
            let mounted = sys::open_in_root(root, &dest.join(name), libc::O_PATH)
                .map_err(sys_err("reopen", &sub_what))?;
            bind_remount(&sys::fd_path(&mounted), flags, &sub_what)?;
        }
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            bind_remount(&sys::fd_path(&tmpfs), base | MsFlags::MS_RDONLY, what)?;
        }
    }
    Ok(())
}

/// The mount_setattr(2) attributes that `flags` sets (read-only, nosuid,
/// nodev, noexec); atime is left as each mount has it.
fn mount_attrs(flags: MsFlags) -> u64 {
    use crate::mount_options::attr;
    [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .fold(0, |acc, (_, a)| acc | a)
}

/// This process's cgroup in hierarchy `h`, from /proc/self/cgroup.
fn own_cgroup(h: &berth_cgroups::Hierarchy) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let matches = if h.unified {
            ctrls.is_empty()
        } else {
            let names: Vec<&str> = ctrls.split(',').collect();
            h.controllers.iter().all(|c| names.contains(&c.as_str()))
        };
        matches.then(|| path.to_owned())
    })
}

fn symlink_at(dir: &OwnedFd, target: &str, name: &str) -> std::result::Result<(), Errno> {
    let t = CString::new(target).map_err(|_| Errno::EINVAL)?;
    let n = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: valid dirfd and NUL-terminated strings.
    let rc = unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) };
    match Errno::result(rc) {
        Err(Errno::EEXIST) => Ok(()),
        r => r.map(drop),
    }
}

/// The devices every container gets (runc's default set).
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn setup_dev(cx: &RootfsContext<'_>, root: &OwnedFd) -> Result<()> {
    let dev = sys::mkdir_all_in_root(root, Path::new("/dev"), Leaf::Dir)
        .map_err(sys_err("create", "/dev"))?;
    for (path, major, minor) in DEFAULT_DEVICES {
        make_device(
            cx,
            root,
            Path::new(path),
            libc::S_IFCHR,
            *major,
            *minor,
            0o666,
            0,
            0,
        )?;
    }
    for (i, d) in cx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Init(format!(
                    "linux.devices[{i}].type: \"a\" is not a device type"
                )))
            }
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        make_device(
            cx,
            root,
            d.path(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            mode,
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink_at(&dev, target, name).map_err(sys_err("symlink", format!("/dev/{name}")))?;
    }
    if Path::new("/proc/kcore").exists() {
        symlink_at(&dev, "/proc/kcore", "core").map_err(sys_err("symlink", "/dev/core"))?;
    }
    // /dev/ptmx must be the container's devpts instance (devpts(5)).
    let ptmx = c"ptmx";
    // SAFETY: valid dirfd and NUL-terminated name.
    let rc = unsafe { libc::unlinkat(dev.as_raw_fd(), ptmx.as_ptr(), 0) };
    if rc != 0 && Errno::last() != Errno::ENOENT {
        return Err(sys_err("remove", "/dev/ptmx")(Errno::last()));
    }
    symlink_at(&dev, "pts/ptmx", "ptmx").map_err(sys_err("symlink", "/dev/ptmx"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    cx: &RootfsContext<'_>,
    root: &OwnedFd,
    path: &Path,
    kind: u32,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let what = path.display().to_string();
    let parent_path = path.parent().unwrap_or(Path::new("/"));
    let parent = sys::mkdir_all_in_root(root, parent_path, Leaf::Dir)
        .map_err(sys_err("create", parent_path.display()))?;
    let name = CString::new(
        path.file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default(),
    )
    .map_err(|_| Error::Init(format!("bad device path {what}")))?;
    // A device already in the image is replaced: it could be anything.
    // SAFETY: valid dirfd and NUL-terminated name.
    unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) };
    if !cx.userns {
        // SAFETY: valid dirfd and name; mknodat does not follow symlinks.
        let rc = unsafe {
            libc::mknodat(
                parent.as_raw_fd(),
                name.as_ptr(),
                kind | mode,
                libc::makedev(major as u32, minor as u32),
            )
        };
        if rc == 0 {
            let fd = sys::open_in_root(root, path, libc::O_PATH).map_err(sys_err("open", &what))?;
            let p = sys::fd_path(&fd);
            let p = CString::new(p)
                .map_err(|_| Errno::EINVAL)
                .map_err(sys_err("chmod", &what))?;
            // SAFETY: NUL-terminated path of our own O_PATH fd.
            Errno::result(unsafe { libc::chmod(p.as_ptr(), mode) })
                .map_err(sys_err("chmod", &what))?;
            // SAFETY: as above.
            Errno::result(unsafe { libc::chown(p.as_ptr(), uid, gid) })
                .map_err(sys_err("chown", &what))?;
            return Ok(());
        }
        if Errno::last() != Errno::EPERM {
            return Err(sys_err("mknod", &what)(Errno::last()));
        }
    }
    // No mknod in a user namespace: bind the host's device node instead.
    // SAFETY: valid dirfd and name; O_EXCL|O_NOFOLLOW creates a new file.
    let fd = unsafe {
        libc::openat(
            parent.as_raw_fd(),
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY,
            0o644,
        )
    };
    if fd < 0 {
        return Err(sys_err("create bind target for", &what)(Errno::last()));
    }
    // SAFETY: closing the fd we just created.
    unsafe { libc::close(fd) };
    let target = sys::open_in_root(root, path, libc::O_PATH).map_err(sys_err("open", &what))?;
    do_mount(
        Some(&what),
        &sys::fd_path(&target),
        None,
        MsFlags::MS_BIND,
        None,
    )
    .map_err(sys_err("bind mount device", &what))
}

/// Switches to the new root: pivot_root(2) with the old root detached
/// (runc's `pivot_root(".", ".")` sequence), or MS_MOVE + chroot with
/// `--no-pivot` for ramdisk hosts where pivot_root is impossible.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    let what = rootfs.display().to_string();
    nix::unistd::chdir(rootfs).map_err(sys_err("chdir", &what))?;
    if no_pivot {
        do_mount(Some("."), "/", None, MsFlags::MS_MOVE, None)
            .map_err(sys_err("move mount", &what))?;
        nix::unistd::chroot(".").map_err(sys_err("chroot", &what))?;
        return nix::unistd::chdir("/").map_err(sys_err("chdir", "/"));
    }
    let old = open_dir(Path::new("/"))?;
    nix::unistd::pivot_root(".", ".").map_err(sys_err("pivot_root", &what))?;
    // SAFETY: fchdir to a directory fd we own.
    Errno::result(unsafe { libc::fchdir(old.as_raw_fd()) })
        .map_err(sys_err("fchdir", "old root"))?;
    // Keep the detach from propagating to the host's mounts.
    do_mount(None, ".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .map_err(sys_err("make old root slave", "."))?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(sys_err("detach old root", "."))?;
    nix::unistd::chdir("/").map_err(sys_err("chdir", "/"))
}

/// Hides `maskedPaths` (tmpfs over directories, /dev/null over files) and
/// makes `readonlyPaths` read-only. Runs after pivot_root.
pub fn mask_and_protect(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    for p in linux.readonly_paths().iter().flatten() {
        match do_mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None) {
            Err(Errno::ENOENT) => continue,
            r => r.map_err(sys_err("bind readonly path", p))?,
        }
        bind_remount(
            p,
            MsFlags::MS_RDONLY
                | MsFlags::MS_REC
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            p,
        )?;
    }
    let mut null_checked = false;
    for p in linux.masked_paths().iter().flatten() {
        let meta = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "stat masked path",
                    path: PathBuf::from(p),
                    source: e,
                })
            }
        };
        if meta.is_dir() {
            do_mount(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0,mode=0755"),
            )
            .map_err(sys_err("mask", p))?;
        } else {
            if !null_checked {
                check_dev_null()?;
                null_checked = true;
            }
            do_mount(Some("/dev/null"), p, None, MsFlags::MS_BIND, None)
                .map_err(sys_err("mask", p))?;
        }
    }
    Ok(())
}

/// The container's /dev/null is bind-mounted over masked files: make sure
/// it is the real null device and not a file or link the image planted to
/// turn masking into a write primitive (CVE-2025-31133).
fn check_dev_null() -> Result<()> {
    let m = std::fs::symlink_metadata("/dev/null").map_err(Error::io("stat", "/dev/null"))?;
    if !m.file_type().is_char_device() || m.rdev() != libc::makedev(1, 3) {
        return Err(Error::Init("/dev/null in the container is not the null device (1:3); refusing to use it to mask paths".into()));
    }
    Ok(())
}

/// Remounts / read-only for `root.readonly`.
pub fn readonly_root() -> Result<()> {
    bind_remount("/", MsFlags::MS_RDONLY, "/")
}
