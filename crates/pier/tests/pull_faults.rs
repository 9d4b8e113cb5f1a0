//! Pulls under stress and faults: several pulls of one image into one
//! store at once, a store that runs out of space mid-pull, and a registry
//! killed mid-pull. None may leave a bad blob, a temp file or a name
//! pointing at nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A registry holding the busybox test image; returns it and the name.
fn registry_with_image(tmp: &Path) -> (Registry, String) {
    let reg = Registry::start(Auth::None);
    let layout = build_image(tmp);
    let remote = format!("{}/busybox:latest", reg.host());
    run(skopeo()
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{remote}")));
    (reg, remote)
}

fn ingest_files(root: &Path) -> usize {
    std::fs::read_dir(root.join("ingest"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The largest temp file in ingest/: the bytes of the blob being written.
fn ingest_bytes(root: &Path) -> u64 {
    std::fs::read_dir(root.join("ingest"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Every blob of the store holds the content its name is the digest of.
fn assert_blobs_match_names(root: &Path) {
    for e in std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .flatten()
    {
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            sha256(&data),
            format!("sha256:{}", e.file_name().to_string_lossy()),
            "a blob whose content is not its digest"
        );
    }
}

#[test]
fn concurrent_pulls_of_one_image_into_one_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (_reg, remote) = registry_with_image(tmp.path());
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    pier(&root, &home)
                        .args(["pull", "-q", &remote])
                        .output()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.status.success(), "{o:?}");
        assert_eq!(stdout(o).trim(), remote);
    }
    // One manifest, one config, one layer; nothing half-written.
    assert_eq!(blob_count(&root), 3);
    assert_eq!(ingest_files(&root), 0);
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);
    assert_eq!(
        inspect_digest(&format!("oci:{}:{remote}", root.display()), &[]),
        want
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index:#}");
}

/// A tmpfs mounted on a temp dir; unmounted on drop.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(dir).unwrap();
        run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "pier-test-full",
            ])
            .arg(dir));
        SmallFs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0));
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_pull_cleanly_and_a_retry_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (_reg, remote) = registry_with_image(tmp.path());
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");
    // Room for the layout and the small blobs, not for the busybox layer.
    let fs = SmallFs::mount(&root, "256k");
    let err = fails(pier(&root, &home).args(["pull", "-q", &remote]));
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("failed to write"), "{err}");
    // Nothing half-written, and no name for an image that is not there.
    assert_eq!(ingest_files(&root), 0, "a temp file is left in ingest/");
    assert_blobs_match_names(&root);
    let out = pier(&root, &home).args(["images", "-q"]).output().unwrap();
    assert_eq!(stdout(&out), "", "the failed image got a name");
    // With room again the same pull completes.
    fs.resize("64m");
    let out = run(pier(&root, &home).args(["pull", "-q", &remote]));
    assert_eq!(stdout(&out).trim(), remote);
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);
    assert_eq!(
        inspect_digest(&format!("oci:{}:{remote}", root.display()), &[]),
        want
    );
}

/// A one-layer image of `size` bytes of noise in `reg` (an uncompressed
/// tar, so that building it takes no time; skopeo gzips it on the way);
/// returns the name and the layer's digest and size in the registry.
fn registry_with_big_image(reg: &Registry, dir: &Path, size: usize) -> (String, String, u64) {
    let mut layout = Layout::new(&dir.join("big"));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_mtime(1);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "big", &noise(size, 42)[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let layer = layout.blob("application/vnd.oci.image.layer.v1.tar", &tar);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
    });
    let config = layout.blob(
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer],
    });
    let manifest = layout.blob(
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    layout.tag("big", &manifest);
    let remote = format!("{}/big:v1", reg.host());
    skopeo_copy(
        &format!("oci:{}:big", layout.dir.display()),
        &format!("docker://{remote}"),
        &[],
    );
    let out = run(skopeo()
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{remote}")));
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layer = &pushed["layers"][0];
    (
        remote,
        layer["digest"].as_str().unwrap().to_string(),
        layer["size"].as_u64().unwrap(),
    )
}

/// A `pier pull` running in the background, its output in a file;
/// killed on drop, so that a failed test leaves no pier behind.
struct Pull {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Pull {
    fn start(root: &Path, home: &Path, remote: &str, log: &Path) -> Pull {
        let out = std::fs::File::create(log).unwrap();
        let child = pier(root, home)
            .args(["pull", remote])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Pull {
            child,
            log: log.to_owned(),
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until at least `min` bytes, and not all `size`, of the layer
    /// are in `root`'s ingest/.
    fn wait_partial(&mut self, root: &Path, min: u64, size: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let got = ingest_bytes(root);
            if got >= min && got < size {
                return got;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("pier pull ended ({st}) too early:\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "no layer bytes in ingest/ after 120s:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for pier to exit, for at most 300s.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "pier pull still runs after 300s:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP or SIGCONT.
    fn signal(&self, sig: &str) {
        run(Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string()));
    }
}

impl Drop for Pull {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_registry_killed_mid_pull_then_the_pull_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::start(Auth::None);
    // Big enough that a pull takes seconds (a debug pier hashes slowly).
    let (remote, layer, size) = registry_with_big_image(&reg, tmp.path(), 128 << 20);
    let home = tmp.path().join("home");
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);
    let complete = |root: &Path| {
        assert_eq!(ingest_files(root), 0, "a temp file is left in ingest/");
        assert_blobs_match_names(root);
        let hex = layer.trim_start_matches("sha256:");
        assert!(root.join("blobs/sha256").join(hex).is_file(), "no layer");
        assert_eq!(
            inspect_digest(&format!("oci:{}:{remote}", root.display()), &[]),
            want
        );
        let out = run(pier(root, &home).args(["images", "--format", "json"]));
        let listed: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(listed.len(), 1, "{}", stdout(&out));
        assert_eq!(listed[0]["Name"], remote.as_str(), "{}", stdout(&out));
        assert_eq!(listed[0]["Digest"], want.as_str(), "{}", stdout(&out));
    };

    // Down for longer than pier retries (a resume with Range, then whole
    // attempts, with backoff: registry.rs ATTEMPTS): the pull fails
    // cleanly, naming the blob and the registry.
    let root = tmp.path().join("root");
    let mut pull = Pull::start(&root, &home, &remote, &tmp.path().join("pull1.log"));
    pull.wait_partial(&root, 1 << 20, size);
    reg.kill();
    let killed = Instant::now();
    let status = pull.wait();
    let retried = killed.elapsed();
    let err = pull.output();
    assert!(
        !status.success(),
        "pier pull succeeded without its registry:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(&layer) && err.contains(&reg.host()), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    // A network failure is reported as one, not as a failed write.
    assert!(
        err.contains("failed to read") && !err.contains("failed to write"),
        "{err}"
    );
    // The backoff sleeps alone add up to seconds: pier did not give up at
    // the first refused connection.
    assert!(
        retried >= Duration::from_secs(1),
        "gave up after {retried:?}"
    );
    assert_eq!(ingest_files(&root), 0, "a temp file is left in ingest/");
    assert_blobs_match_names(&root);
    let out = run(pier(&root, &home).args(["images", "-q"]));
    assert_eq!(stdout(&out), "", "the failed image got a name");
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"], serde_json::json!([]), "{idx:#}");
    // Back with its storage: pulling again completes.
    reg.restart();
    let out = run(pier(&root, &home).args(["pull", "-q", &remote]));
    assert_eq!(stdout(&out).trim(), remote);
    complete(&root);

    // Back while pier is still pulling: the same pull resumes with Range
    // and completes. pier is stopped across the kill and the restart so
    // that the registry is surely back before pier's retries run out.
    let root = tmp.path().join("root2");
    let mut pull = Pull::start(&root, &home, &remote, &tmp.path().join("pull2.log"));
    pull.wait_partial(&root, 1 << 20, size);
    pull.signal("STOP");
    reg.kill();
    let before = reg.requests().len();
    reg.restart();
    pull.signal("CONT");
    let status = pull.wait();
    let out = pull.output();
    assert!(status.success(), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(out.contains("pull complete"), "{out}");
    let after = &reg.requests()[before..];
    assert!(
        after.contains(&format!("/v2/big/blobs/{layer} HTTP/1.1\" 206")),
        "no Range request to the restarted registry:\n{after}"
    );
    complete(&root);
}
