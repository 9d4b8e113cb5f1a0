//! The busybox rootfs shared by a test run, and per-bundle copies of it.
//!
//! The rootfs is built once into `<workspace>/target/e2e-rootfs/rootfs` (override the
//! directory with `BERTH_E2E_CACHE`) by `$BERTH_ROOTFS_SCRIPT` (default
//! `<workspace>/hack/mkrootfs.sh DIR`). Until that script exists, a fallback copies the
//! host's static busybox and links its applets. Test processes build it under a file
//! lock, so concurrently running test binaries share one build.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The host busybox the fallback copies; it must be statically linked.
const HOST_BUSYBOX: &str = "/usr/bin/busybox";

/// Records which builder made the cached rootfs.
const MARKER: &str = ".berth-e2e-built-by";

fn cache_dir() -> PathBuf {
    match std::env::var_os("BERTH_E2E_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::workspace_root().join("target/e2e-rootfs"),
    }
}

fn script() -> PathBuf {
    match std::env::var_os("BERTH_ROOTFS_SCRIPT") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => crate::workspace_root().join("hack/mkrootfs.sh"),
    }
}

/// The shared rootfs, built on first use in this process.
pub fn shared() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(build)
}

fn build() -> PathBuf {
    let cache = cache_dir();
    fs::create_dir_all(&cache).expect("create rootfs cache dir");
    let lock = File::create(cache.join(".lock")).expect("create rootfs lock file");
    // SAFETY: flock on an fd we own; it is released when `lock` is closed.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock rootfs cache: {}",
        std::io::Error::last_os_error()
    );

    let rootfs = cache.join("rootfs");
    let marker = cache.join(MARKER);
    let built_by = fs::read_to_string(&marker).unwrap_or_default();
    let script = script();
    if script.exists() {
        // The script is idempotent, so it runs every time: it may have changed.
        if built_by != "script" {
            remove_all(&rootfs);
        }
        let status = Command::new("bash")
            .arg(&script)
            .arg(&rootfs)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            status.success(),
            "{} {} failed: {status}",
            script.display(),
            rootfs.display()
        );
        fs::write(&marker, "script").expect("write rootfs marker");
    } else if built_by != "fallback" || !rootfs.join("bin/sh").exists() {
        remove_all(&rootfs);
        fallback(&rootfs);
        fs::write(&marker, "fallback").expect("write rootfs marker");
    }
    assert!(
        rootfs.join("bin/sh").symlink_metadata().is_ok(),
        "rootfs {} has no /bin/sh",
        rootfs.display()
    );
    rootfs
}

fn remove_all(path: &Path) {
    if path.symlink_metadata().is_ok() {
        fs::remove_dir_all(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
}

/// Builds a minimal rootfs from the host's static busybox.
fn fallback(rootfs: &Path) {
    let tmp = rootfs.with_extension("tmp");
    remove_all(&tmp);
    for dir in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        fs::create_dir_all(tmp.join(dir)).expect("create rootfs dir");
    }
    fs::set_permissions(tmp.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod rootfs /tmp");
    fs::copy(HOST_BUSYBOX, tmp.join("bin/busybox")).expect("copy host busybox");
    let list = Command::new(HOST_BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        // `busybox --list` names busybox itself, which must stay the real binary.
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", tmp.join("bin").join(applet)).expect("link busybox applet");
    }
    fs::write(
        tmp.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write /etc/passwd");
    fs::write(tmp.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write /etc/group");
    fs::rename(&tmp, rootfs).expect("move rootfs into place");
}

/// Copies the shared rootfs to `dest` (`cp -a`: busybox is one file plus symlinks).
pub fn copy_to(dest: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(shared())
        .arg(dest)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp -a rootfs to {} failed",
        dest.display()
    );
}
