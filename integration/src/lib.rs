//! Integration harness for berth: real callers (containerd with `ctr`, dockerd with
//! `docker`, podman with conmon) driving the berth binary as their OCI runtime.
//!
//! Every caller runs on private sockets, roots and state directories under a
//! [`Scratch`] directory, and its guard ([`Containerd`], [`Dockerd`], [`Podman`])
//! stops it on drop, even when the test panics: it removes what the daemon made,
//! stops the daemon, kills what is left (shims, conmon, container processes),
//! unmounts everything under the scratch directory, removes the cgroups named after
//! the test and finally the directory.
//!
//! The runtime is `$BERTH_BIN` (default `<workspace>/target/debug/berth`), so the
//! same suites run with runc as a control: `BERTH_BIN=/usr/sbin/runc`.
//!
//! Images come from `hack/mkimage.sh` (a busybox image built without network) and
//! are imported into each caller: no registry, no pull.

mod cleanup;
mod cmd;
mod containerd;
mod cri;
mod dockerd;
mod podman;
mod pty;
mod scratch;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use cmd::{Cmd, Output, Running};
pub use containerd::{Containerd, Events, CTR_IMAGE};
pub use cri::{cri_config, Cri, CRI_HANDLER, CRI_NAMESPACE, CRI_PAUSE_IMAGE};
pub use dockerd::{Dockerd, DOCKER_IMAGE};
pub use podman::{Podman, PODMAN_IMAGE};
pub use pty::Pty;
pub use scratch::Scratch;

/// The workspace root, found from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The runtime under test, as an absolute path: `$BERTH_BIN`, else
/// `<workspace>/target/debug/berth`.
///
/// The callers run it from other working directories (the shim from the bundle),
/// so a relative path would not do.
pub fn runtime_bin() -> PathBuf {
    let bin = match std::env::var_os("BERTH_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => workspace_root().join("target/debug/berth"),
    };
    let bin = std::fs::canonicalize(&bin).unwrap_or_else(|e| {
        panic!(
            "runtime binary {} is missing ({e}): run `cargo build -p berth` or set BERTH_BIN",
            bin.display()
        )
    });
    bin
}

/// Whether the runtime under test is berth (rather than runc as a control).
pub fn is_berth() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|name| name.to_string_lossy().contains("berth"))
}

/// The test image, built once per test process by `hack/mkimage.sh`.
pub struct Image {
    /// A docker-archive of `berth-test/busybox:latest`.
    pub docker_archive: PathBuf,
    /// The same image as an oci-archive.
    pub oci_archive: PathBuf,
    /// A docker-archive of `berth-test/pause:latest` (same layer, runs `sleep`).
    pub pause_archive: PathBuf,
}

/// Builds (or finds up to date) the busybox test image under
/// `$BERTH_IMAGE_DIR` (default `<workspace>/target/integration-image`).
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = match std::env::var_os("BERTH_IMAGE_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => workspace_root().join("target/integration-image"),
        };
        let script = workspace_root().join("hack/mkimage.sh");
        let out = std::process::Command::new(&script)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} {} failed ({}):\n{}{}",
            script.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Image {
            docker_archive: dir.join("busybox.tar"),
            oci_archive: dir.join("busybox-oci.tar"),
            pause_archive: dir.join("pause.tar"),
        }
    })
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes; returns
/// whether it succeeded.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A name unique across the tests of this process and across processes:
/// `bit-<tag>-<pid>-<n>`. Short, because it ends up in socket paths (108 bytes
/// at most) and in containerd namespace names.
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("bit-{tag}-{}-{n}", std::process::id())
}

/// How long a state change (running, paused, stopped) may take to show.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(20);

/// A shell loop that prints a growing counter ten times a second for at most
/// about five minutes, and exits 42 on SIGTERM after saying so. Used to see a
/// container run, freeze (pause) and take signals.
pub const TICKER: &str = "trap 'echo got-sigterm; exit 42' TERM; echo ticker-started; \
     i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo tick-$i; sleep 0.1; done";
