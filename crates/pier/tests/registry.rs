//! pier against a real registry (Debian's `docker-registry`, distribution
//! 2.8) on 127.0.0.1, with images built by umoci and moved by skopeo: the
//! store must be readable by skopeo, and what pier pushes must pull back
//! with skopeo.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

#[test]
fn pull_push_images_rmi_with_skopeo_as_oracle() {
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let layout = build_image(tmp.path());
    let host = reg.host();
    let remote = format!("{host}/busybox:latest");
    run(skopeo()
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{remote}")));
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);

    let root = tmp.path().join("root");
    let home = tmp.path().join("home");
    let out = run(pier(&root, &home).args(["pull", &remote]));
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
    // skopeo reads pier's store as an OCI layout, by the full name.
    assert_eq!(
        inspect_digest(&format!("oci:{}:{remote}", root.display()), &[]),
        want
    );
    // A second pull finds everything in place.
    let out = run(pier(&root, &home).args(["pull", "-q", &remote]));
    assert_eq!(stdout(&out).trim(), remote);

    // The layers unpack into a rootfs, each checked against its DiffID.
    let rootfs = tmp.path().join("rootfs");
    let store = pier_image::Store::open(&root).unwrap();
    pier_image::unpack::unpack_image(&store, &remote, &rootfs).unwrap();
    let bb = std::fs::metadata(rootfs.join("bin/busybox")).unwrap();
    assert_eq!(
        bb.len(),
        std::fs::metadata("/usr/bin/busybox").unwrap().len()
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );

    let out = run(pier(&root, &home).args(["images", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["Repository"], format!("{host}/busybox"));
    assert_eq!(v["Tag"], "latest");
    assert_eq!(v["Digest"], want);
    assert!(v["Size"].as_u64().unwrap() > 500_000);
    let out = run(pier(&root, &home).arg("images"));
    assert!(stdout(&out).starts_with("REPOSITORY"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("{host}/busybox")));

    // pier pushes under another name; skopeo pulls it back, same digest.
    let copy = format!("{host}/copy/busybox:v1");
    run(pier(&root, &home).args(["push", &remote, &copy]));
    assert_eq!(
        inspect_digest(&format!("docker://{copy}"), &["--tls-verify=false"]),
        want
    );
    let back = tmp.path().join("back");
    run(skopeo()
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{copy}"))
        .arg(format!("oci:{}:x", back.display())));
    // Pushing again skips the blobs the registry has.
    let out = run(pier(&root, &home).args(["push", &remote, &copy]));
    assert!(stdout(&out).contains("already exists"), "{}", stdout(&out));

    // rmi removes the name and collects every blob.
    assert_eq!(blob_count(&root), 3);
    run(pier(&root, &home).args(["rmi", &remote]));
    assert_eq!(blob_count(&root), 0);
    let out = pier(&root, &home).args(["rmi", &remote]).output().unwrap();
    assert!(!out.status.success());
    let out = run(pier(&root, &home).args(["images", "-q"]));
    assert_eq!(stdout(&out), "");
}

#[test]
fn basic_auth_login_logout() {
    let reg = Registry::start(Auth::Basic("alice", "s3cret"));
    let tmp = tempfile::tempdir().unwrap();
    let layout = build_image(tmp.path());
    let host = reg.host();
    let remote = format!("{host}/private/busybox:latest");
    run(skopeo()
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
        ])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{remote}")));
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");

    let out = pier(&root, &home).args(["pull", &remote]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("login"), "{err}");

    let mut login = pier(&root, &home)
        .args(["login", "-u", "alice", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"wrong\n").unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(!out.status.success(), "a wrong password must not log in");
    assert!(!home.join(".docker/config.json").exists());

    run(pier(&root, &home).args(["login", "-u", "alice", "-p", "s3cret", &host]));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join(".docker/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["auths"][&host]["auth"], "YWxpY2U6czNjcmV0");

    run(pier(&root, &home).args(["pull", &remote]));
    let copy = format!("{host}/private/copy:v2");
    run(pier(&root, &home).args(["push", &remote, &copy]));
    run(skopeo()
        .args(["inspect", "--tls-verify=false", "--creds", "alice:s3cret"])
        .arg(format!("docker://{copy}")));

    let out = run(pier(&root, &home).args(["logout", &host]));
    assert!(stdout(&out).contains("Removing"), "{}", stdout(&out));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join(".docker/config.json")).unwrap()).unwrap();
    assert!(cfg["auths"].get(&host).is_none());
}
