//! pier's image commands against a real registry and other tools:
//! multi-platform indexes, gzip and zstd layers, chunked and mounted
//! pushes, token auth, a connection dropped mid-blob, a registry serving
//! wrong content, and save/load in both archive formats with skopeo as the
//! oracle.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A two-platform index: amd64 with a gzip layer and a zstd layer that
/// whites out a file of the first; arm64 with one zstd layer.
fn multi_arch(dir: &Path) -> (Layout, serde_json::Value) {
    let mut l = Layout::new(dir);
    let amd64 = l.image(
        "amd64",
        &[
            (
                Comp::Gzip,
                vec![
                    ("etc/arch", b"amd64\n".to_vec()),
                    ("etc/gone", b"x".to_vec()),
                    ("big", noise(300_000, 1)),
                ],
            ),
            (
                Comp::Zstd,
                vec![
                    ("etc/.wh.gone", Vec::new()),
                    ("etc/zstd", b"zstd\n".to_vec()),
                ],
            ),
        ],
    );
    let arm64 = l.image(
        "arm64",
        &[(Comp::Zstd, vec![("etc/arch", b"arm64\n".to_vec())])],
    );
    let index = l.index(&[amd64, arm64]);
    l.tag("multi", &index);
    (l, index)
}

#[test]
fn multi_platform_index_gzip_zstd_and_index_push() {
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let (layout, index) = multi_arch(&tmp.path().join("src"));
    let host = reg.host();
    let remote = format!("{host}/multi:v1");
    skopeo_copy(
        &format!("oci:{}:multi", layout.dir.display()),
        &format!("docker://{remote}"),
        &["--all"],
    );
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");

    // The platform asked for, not the host's.
    let out = run(pier(&root, &home).args(["pull", "--platform", "linux/arm64", &remote]));
    assert!(stdout(&out).contains("selected"), "{}", stdout(&out));
    let v = json(&run(pier(&root, &home).args(["inspect", &remote])));
    assert_eq!(v[0]["Architecture"], "arm64");
    assert_eq!(v[0]["Config"]["Labels"]["arch"], "arm64");

    // A platform the index lacks: an error listing what it has; nothing
    // is stored.
    let other = tempfile::tempdir().unwrap();
    let err = fails(pier(other.path(), &home).args(["pull", "--platform", "linux/s390x", &remote]));
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    assert_eq!(blob_count(other.path()), 0);
    let err = fails(pier(other.path(), &home).args(["pull", "--platform", "linux", &remote]));
    assert!(err.contains("\"linux\""), "{err}");

    // The host's (amd64 here): gzip then zstd, the whiteout applied.
    if pier_image::Platform::host().architecture == "amd64" {
        let amd = format!("{host}/multi:amd");
        run(pier(&root, &home).args(["pull", "-q", &remote]));
        run(pier(&root, &home).args(["tag", &remote, &amd]));
        let rootfs = tmp.path().join("rootfs");
        let store = pier_image::Store::open(&root).unwrap();
        pier_image::unpack::unpack_image(&store, &amd, &rootfs).unwrap();
        assert_eq!(std::fs::read(rootfs.join("etc/arch")).unwrap(), b"amd64\n");
        assert_eq!(std::fs::read(rootfs.join("etc/zstd")).unwrap(), b"zstd\n");
        assert!(!rootfs.join("etc/gone").exists());
        assert_eq!(
            std::fs::read(rootfs.join("big")).unwrap(),
            noise(300_000, 1)
        );
    }

    // An index in the store (as skopeo --all writes it) pushes whole:
    // every child, then the index, byte for byte.
    let name = format!("{host}/local/multi:all");
    skopeo_copy(
        &format!("oci:{}:multi", layout.dir.display()),
        &format!("oci:{}:{name}", root.display()),
        &["--all"],
    );
    let dest = format!("{host}/pushed/multi:v2");
    run(pier(&root, &home).args(["push", &name, &dest]));
    let raw = run(skopeo()
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{dest}")));
    assert_eq!(sha256(&raw.stdout), index["digest"].as_str().unwrap());
    let back = tmp.path().join("back");
    skopeo_copy(
        &format!("docker://{dest}"),
        &format!("oci:{}:x", back.display()),
        &["--all"],
    );

    // inspect of the index name shows the host's entry; save it as an
    // oci-archive (whole) and load it elsewhere.
    let archive = tmp.path().join("multi-oci.tar");
    run(pier(&root, &home)
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&archive)
        .arg(&name));
    let root2 = tmp.path().join("root2");
    let out = run(pier(&root2, &home).arg("load").arg("-i").arg(&archive));
    assert!(stdout(&out).contains(&name), "{}", stdout(&out));
    let raw = run(skopeo()
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{name}", root2.display())));
    assert_eq!(sha256(&raw.stdout), index["digest"].as_str().unwrap());
}

#[test]
fn chunked_push_and_cross_repository_mount() {
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let layout = build_image(tmp.path());
    let host = reg.host();
    let remote = format!("{host}/busybox:latest");
    skopeo_copy(
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{remote}"),
        &[],
    );
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");
    run(pier(&root, &home).args(["pull", "-q", &remote]));

    // Another registry: nothing to mount, the layer goes up in 256 kB chunks.
    let reg2 = Registry::start(Auth::None);
    let dest = format!("{}/chunked:v1", reg2.host());
    run(pier(&root, &home).args(["push", "--chunk-size", "262144", &remote, &dest]));
    let patches = reg2.requests().matches("\"PATCH ").count();
    assert!(
        patches >= 3,
        "expected several PATCH requests:\n{}",
        reg2.requests()
    );
    assert_eq!(
        inspect_digest(&format!("docker://{dest}"), &["--tls-verify=false"]),
        want
    );
    let back = tmp.path().join("back");
    skopeo_copy(
        &format!("docker://{dest}"),
        &format!("oci:{}:x", back.display()),
        &[],
    );

    // Same registry, other repository: mounted, not uploaded.
    let copy = format!("{host}/mounted/busybox:v1");
    let out = run(pier(&root, &home).args(["push", &remote, &copy]));
    assert!(stdout(&out).contains("mounted"), "{}", stdout(&out));
    assert_eq!(
        inspect_digest(&format!("docker://{copy}"), &["--tls-verify=false"]),
        want
    );
}

#[test]
fn token_auth_anonymous_and_with_credentials() {
    let reg = Registry::start(Auth::Token("alice", "s3cret"));
    let tmp = tempfile::tempdir().unwrap();
    let layout = build_image(tmp.path());
    let host = reg.host();
    let remote = format!("{host}/team/busybox:latest");
    // skopeo goes through the same token server: a check of the server.
    skopeo_copy(
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{remote}"),
        &["--dest-creds", "alice:s3cret"],
    );
    let want = inspect_digest(&format!("docker://{remote}"), &["--tls-verify=false"]);
    let root = tmp.path().join("root");
    let home = tmp.path().join("home");

    // Anonymous: pull is granted, push is not.
    let out = run(pier(&root, &home).args(["pull", &remote]));
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
    let copy = format!("{host}/team/copy:v1");
    let err = fails(pier(&root, &home).args(["push", &remote, &copy]));
    assert!(err.contains("unauthorized"), "{err}");

    // A wrong password is refused by the token server; the right one is
    // stored and pushes.
    fails(pier(&root, &home).args(["login", "-u", "alice", "-p", "nope", &host]));
    assert!(!home.join(".docker/config.json").exists());
    run(pier(&root, &home).args(["login", "-u", "alice", "-p", "s3cret", &host]));
    run(pier(&root, &home).args(["push", &remote, &copy]));
    assert_eq!(
        inspect_digest(
            &format!("docker://{copy}"),
            &["--tls-verify=false", "--creds", "alice:s3cret"]
        ),
        want
    );
    // With credentials, pulls work too (a fresh store downloads again).
    let root2 = tmp.path().join("root2");
    run(pier(&root2, &home).args(["pull", &copy]));
}

#[test]
fn dropped_connection_resumes_with_range() {
    let reg = Registry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&tmp.path().join("src"));
    let big = noise(3 << 20, 7);
    let m = layout.image("amd64", &[(Comp::Gzip, vec![("big", big.clone())])]);
    layout.tag("big", &m);
    let remote = format!("{}/big:v1", reg.host());
    skopeo_copy(
        &format!("oci:{}:big", layout.dir.display()),
        &format!("docker://{remote}"),
        &[],
    );

    let proxy = CuttingProxy::start(reg.port, 1 << 20);
    let via = format!("127.0.0.1:{}/big:v1", proxy.port);
    let root = tmp.path().join("root");
    let out = run(pier(&root, tmp.path()).args(["pull", "--platform", "linux/amd64", &via]));
    assert!(
        proxy.cut.load(std::sync::atomic::Ordering::Relaxed),
        "the proxy never cut"
    );
    assert!(
        proxy.ranged.load(std::sync::atomic::Ordering::Relaxed),
        "no Range request after the cut"
    );
    assert!(stdout(&out).contains("pull complete"), "{}", stdout(&out));
    let store = pier_image::Store::open(&root).unwrap();
    let rootfs = tmp.path().join("rootfs");
    pier_image::unpack::unpack_image(&store, &via, &rootfs).unwrap();
    assert!(std::fs::read(rootfs.join("big")).unwrap() == big);
}

#[test]
fn wrong_digest_is_rejected_and_nothing_is_stored() {
    // A fake registry: a manifest whose layer the registry serves with
    // other bytes of the same size.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#.to_vec();
    let good = b"the real layer".to_vec();
    let evil = b"the evil layer".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&good), "size": good.len()}],
    })
    .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (cfg_d, layer_d) = (sha256(&config), sha256(&good));
    let want_layer = layer_d.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let Some(req) = read_request(&conn) else {
                continue;
            };
            let p = req.path().to_string();
            if p == "/v2/" {
                respond(&conn, 200, "application/json", b"{}");
            } else if p.contains("/manifests/") {
                respond(
                    &conn,
                    200,
                    "application/vnd.oci.image.manifest.v1+json",
                    manifest.as_bytes(),
                );
            } else if p.ends_with(&cfg_d) {
                respond(&conn, 200, "application/octet-stream", &config);
            } else if p.ends_with(&layer_d) {
                respond(&conn, 200, "application/octet-stream", &evil);
            } else {
                respond(&conn, 404, "application/json", b"{}");
            }
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let err = fails(pier(&root, tmp.path()).args(["pull", &format!("127.0.0.1:{port}/evil:v1")]));
    assert!(
        err.contains("digest mismatch") && err.contains(&want_layer),
        "{err}"
    );
    assert_eq!(blob_count(&root), 0, "a failed pull leaves no blob");
    assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 0);
    let out = run(pier(&root, tmp.path()).args(["images", "-q"]));
    assert_eq!(stdout(&out), "");
}

#[test]
fn save_load_round_trips_with_skopeo() {
    ensure_tools();
    let tmp = tempfile::tempdir().unwrap();
    let layout = build_image(tmp.path());
    let home = tmp.path().join("home");
    let src = format!("oci:{}:latest", layout.display());
    let want = inspect_digest(&src, &[]);
    let config_of = |target: &str| -> String {
        let out = run(skopeo().args(["inspect", "--config", "--raw"]).arg(target));
        sha256(&out.stdout)
    };
    let id = config_of(&src);

    // skopeo's docker-archive loads into pier.
    let skopeo_tar = tmp.path().join("skopeo.tar");
    skopeo_copy(
        &src,
        &format!("docker-archive:{}:test/busybox:v1", skopeo_tar.display()),
        &[],
    );
    let root = tmp.path().join("root");
    let out = run(pier(&root, &home).arg("load").arg("-i").arg(&skopeo_tar));
    assert_eq!(
        stdout(&out).trim(),
        "Loaded image: docker.io/test/busybox:v1"
    );
    let v = json(&run(pier(&root, &home).args(["inspect", "test/busybox:v1"])));
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["RepoTags"][0], "test/busybox:v1");
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");
    let store = pier_image::Store::open(&root).unwrap();
    let rootfs = tmp.path().join("rootfs");
    pier_image::unpack::unpack_image(&store, "docker.io/test/busybox:v1", &rootfs).unwrap();
    assert!(rootfs.join("bin/busybox").is_file());

    // tag, then save both names to a docker-archive that skopeo reads
    // and pier loads back with the same id.
    run(pier(&root, &home).args(["tag", "test/busybox:v1", "localhost:5000/other:v2"]));
    let ours = tmp.path().join("ours.tar");
    run(pier(&root, &home)
        .arg("save")
        .arg("-o")
        .arg(&ours)
        .args(["test/busybox:v1", "localhost:5000/other:v2"]));
    assert_eq!(
        config_of(&format!(
            "docker-archive:{}:test/busybox:v1",
            ours.display()
        )),
        id
    );
    let back = tmp.path().join("back");
    skopeo_copy(
        &format!("docker-archive:{}:localhost:5000/other:v2", ours.display()),
        &format!("oci:{}:x", back.display()),
        &[],
    );
    let root2 = tmp.path().join("root2");
    let out = run(pier(&root2, &home).arg("load").arg("-i").arg(&ours));
    assert!(
        stdout(&out).contains("localhost:5000/other:v2"),
        "{}",
        stdout(&out)
    );
    let v = json(&run(
        pier(&root2, &home).args(["inspect", "localhost:5000/other:v2"])
    ));
    assert_eq!(v[0]["Id"], id);

    // Through standard output and input, gzip-compressed on the way.
    let mut save = pier(&root, &home)
        .args(["save", "test/busybox:v1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let gz = Command::new("gzip")
        .arg("-c")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success());
    let root3 = tmp.path().join("root3");
    let mut load = pier(&root3, &home)
        .args(["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(&gz.stdout).unwrap();
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "docker.io/test/busybox:v1");

    // oci-archive both ways: skopeo's into pier, pier's into skopeo.
    let oci_tar = tmp.path().join("skopeo-oci.tar");
    skopeo_copy(
        &src,
        &format!(
            "oci-archive:{}:example.com/oci/busybox:v3",
            oci_tar.display()
        ),
        &[],
    );
    let root4 = tmp.path().join("root4");
    let out = run(pier(&root4, &home).arg("load").arg("-i").arg(&oci_tar));
    assert!(
        stdout(&out).contains("example.com/oci/busybox:v3"),
        "{}",
        stdout(&out)
    );
    let v = json(&run(pier(&root4, &home).args(["inspect", &id[7..19]])));
    assert_eq!(v[0]["Id"], id);
    let ours_oci = tmp.path().join("ours-oci.tar");
    run(pier(&root4, &home)
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&ours_oci)
        .arg("example.com/oci/busybox:v3"));
    assert_eq!(
        inspect_digest(
            &format!(
                "oci-archive:{}:example.com/oci/busybox:v3",
                ours_oci.display()
            ),
            &[]
        ),
        want
    );

    // Bad input: an error naming the problem, no panic, nothing stored.
    let empty = tmp.path().join("empty");
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"not a tarball at all").unwrap();
    let err = fails(pier(&empty, &home).arg("load").arg("-i").arg(&junk));
    assert!(err.contains("junk.tar"), "{err}");
    let err = fails(
        pier(&empty, &home)
            .arg("load")
            .arg("-i")
            .arg(tmp.path().join("missing.tar")),
    );
    assert!(err.contains("missing.tar"), "{err}");
    let err = fails(pier(&empty, &home).args(["save", "-o", "/dev/null", "no/such:image"]));
    assert!(err.contains("no/such:image"), "{err}");
    let err = fails(pier(&empty, &home).args(["save", "--format", "zip", "-o", "/dev/null", "x"]));
    assert!(err.contains("zip"), "{err}");
    let err = fails(pier(&empty, &home).args(["tag", "no/such:image", "x:y"]));
    assert!(err.contains("no/such:image"), "{err}");
    let err = fails(pier(&root, &home).args(["tag", "test/busybox:v1", "Bad/Name"]));
    assert!(err.contains("Bad/Name"), "{err}");
    let err = fails(pier(&root, &home).args(["inspect", "test/busybox:v1", "nothere"]));
    assert!(err.contains("nothere"), "{err}");
    assert_eq!(blob_count(&empty), 0);
}
