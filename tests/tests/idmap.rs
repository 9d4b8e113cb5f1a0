//! Idmapped bind mounts (`idmap`/`ridmap` options, `uidMappings` and
//! `gidMappings` on a mount): a host directory owned by root is owned by
//! the container's root inside a user namespace, and what the container
//! creates there is owned by host root, not by the namespace's base id.

use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_e2e::{is_berth, unique_id, Bundle, Runtime};
use serde_json::json;

fn userns_bundle(host: &std::path::Path, options: &[&str]) -> Bundle {
    let mut bundle = Bundle::new();
    // The rootfs stays owned by host root, which the container's root
    // (host 100000) cannot write: make the mount points beforehand.
    for dir in ["data", "plain"] {
        fs::create_dir_all(bundle.rootfs().join(dir)).expect("mount point");
    }
    bundle.user_namespace(100000, 65536);
    bundle.bind(host, "/data", options);
    bundle.bind(host, "/plain", &["rbind"]);
    bundle.sh("stat -c '%u:%g' /data/file /plain/file; echo made > /data/created; id -u");
    bundle
}

#[test]
fn idmapped_bind_mount_shifts_owners() {
    if !is_berth() {
        // runc 1.1.5 has no idmapped mounts.
        return;
    }
    let host = tempfile::tempdir().expect("tempdir");
    fs::write(host.path().join("file"), "host\n").expect("write");
    for options in [&["bind", "idmap"][..], &["rbind", "ridmap"][..]] {
        let rt = Runtime::new();
        let id = unique_id("idmap");
        let bundle = userns_bundle(host.path(), options);
        let before = rt.leaks(&id, &bundle);
        let out = rt.run(&id, &bundle);
        out.ok();
        // Through the idmapped mount the host's 0 is the container's 0; the
        // plain bind shows it unmapped (65534, the overflow id).
        assert_eq!(out.stdout, "0:0\n65534:65534\n0\n", "{options:?}\n{out}");
        let created = fs::metadata(host.path().join("created")).expect("created on the host");
        assert_eq!(
            (created.uid(), created.gid()),
            (0, 0),
            "written through the idmapped mount"
        );
        fs::remove_file(host.path().join("created")).expect("cleanup");
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}

#[test]
fn mount_mappings_override_the_containers() {
    if !is_berth() {
        return;
    }
    let host = tempfile::tempdir().expect("tempdir");
    fs::write(host.path().join("file"), "host\n").expect("write");
    std::os::unix::fs::chown(host.path().join("file"), Some(1000), Some(1000)).expect("chown");
    let rt = Runtime::new();
    let id = unique_id("idmap-own");
    let mut bundle = userns_bundle(host.path(), &["bind"]);
    // As with the container's own mappings (containerID 0 → hostID 100000
    // makes on-disk 0 the container's 0), containerID is the id on disk and
    // hostID what it becomes: on-disk 1000 → 100005, the container's 5.
    bundle.set(
        "/mounts",
        json!(bundle.config()["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if m["destination"] == "/data" {
                    m["uidMappings"] = json!([{"containerID": 1000, "hostID": 100005, "size": 1}]);
                    m["gidMappings"] = json!([{"containerID": 1000, "hostID": 100005, "size": 1}]);
                }
                m
            })
            .collect::<Vec<_>>()),
    );
    bundle.sh("stat -c '%u:%g' /data/file");
    let out = rt.run(&id, &bundle);
    out.ok();
    assert_eq!(out.stdout, "5:5\n", "{out}");
}

#[test]
fn idmap_without_mappings_or_on_tmpfs_fails_clearly() {
    if !is_berth() {
        return;
    }
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("tempdir");
    let id = unique_id("idmap-bad");
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    bundle.bind(host.path(), "/data", &["bind", "idmap"]);
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["uidMappings"]);
    rt.assert_nothing_left(&id, &bundle, &before);
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    bundle.user_namespace(100000, 65536);
    bundle.mount("/t", "tmpfs", "tmpfs", &["idmap"]);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["bind mounts"]);
}
