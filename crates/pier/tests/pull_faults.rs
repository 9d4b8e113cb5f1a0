//! Pulls under stress and faults: several pulls of one image into one
//! store at once, and a store that runs out of space mid-pull. Neither may
//! leave a bad blob, a temp file or a name pointing at nothing.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

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
    // Nothing half-written, and no name for an image that is not there.
    assert_eq!(ingest_files(&root), 0, "a temp file is left in ingest/");
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
