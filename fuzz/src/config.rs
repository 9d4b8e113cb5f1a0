//! `config.json` validation: arbitrary bytes as the config of a bundle with an
//! empty rootfs, loaded with `libberth::bundle::Bundle::load` (the first thing
//! `berth create` does), then the seccomp profile compiled as `create` would.
//!
//! Invariants: no panic, and an error names something (its message is not
//! empty). Validation only reads the host (`metadata` of paths the config
//! names); it never writes outside the bundle.

use std::cell::RefCell;
use std::path::Path;

use libberth::bundle::Bundle;
use serde_json::{json, Value};

use crate::gen::{self, Rng};

thread_local! {
    /// One bundle directory per thread, reused: only config.json changes.
    static BUNDLE: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

fn with_bundle(f: impl FnOnce(&Path)) {
    BUNDLE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dir = slot.get_or_insert_with(|| {
            let dir = tempfile::Builder::new()
                .prefix("berth-fuzz-bundle-")
                .tempdir()
                .expect("create the fuzz bundle dir");
            std::fs::create_dir(dir.path().join("rootfs")).expect("create rootfs");
            dir
        });
        f(dir.path());
    });
}

/// Checks one input: a config.json if it starts with `{`, else the choices
/// of a generated one (see [`generate`]), so that libFuzzer's byte
/// mutations reach the validator and not only the JSON parser.
pub fn check(data: &[u8]) {
    if data.first() == Some(&b'{') {
        check_config(data);
    } else {
        check_config(&generate(&mut Rng::from_bytes(data)));
    }
}

/// Loads `data` as the config.json of a bundle with an empty rootfs.
pub fn check_config(data: &[u8]) {
    with_bundle(|dir| {
        std::fs::write(dir.join("config.json"), data).expect("write config.json");
        match Bundle::load(dir) {
            Ok(bundle) => {
                assert!(bundle.rootfs.is_dir());
                let seccomp = bundle
                    .spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref());
                if let Some(profile) = seccomp {
                    let _ = berth_seccomp::compile(profile);
                }
            }
            Err(e) => assert!(!e.to_string().is_empty(), "empty error message"),
        }
    });
}

/// The config berth's `spec` writes, made valid for `Bundle::load`.
pub fn base() -> Value {
    let text = libberth::spec_template::render("1.2.0", false, false);
    let mut v: Value = serde_json::from_str(&text).expect("the spec template is JSON");
    v["root"]["path"] = json!("rootfs");
    v
}

/// Snippets that send validation down its less common paths.
fn snippet(rng: &mut Rng, doc: &mut Value) {
    let ns_types = [
        "mount", "pid", "network", "ipc", "uts", "user", "cgroup", "time", "bogus",
    ];
    match rng.below(14) {
        0 => {
            let mut ns = json!({"type": rng.pick(&ns_types)});
            if rng.one_in(2) {
                ns["path"] = json!(rng.pick(&[
                    "/proc/self/ns/net",
                    "/proc/self/ns/mnt",
                    "relative",
                    "/nonexistent"
                ]));
            }
            push(doc, "/linux/namespaces", ns);
        }
        1 => {
            let map = json!([{"containerID": 0, "hostID": rng.interesting_u64() & 0xffff_ffff,
                               "size": rng.interesting_u64() & 0xffff_ffff}]);
            gen::set(doc, "/linux/uidMappings", map.clone());
            gen::set(doc, "/linux/gidMappings", map);
        }
        2 => {
            let options: Vec<String> =
                String::from_utf8_lossy(&crate::mount_options::generate(rng))
                    .lines()
                    .map(str::to_owned)
                    .collect();
            let typ = options.first().cloned().unwrap_or_default();
            let mut m = json!({
                "destination": rng.pick(&["/mnt", "/a/../b", "relative", "/proc/x", ""]),
                "source": rng.pick(&["/tmp", "rootfs", "/nonexistent", "tmpfs", ""]),
                "options": options.get(1..).unwrap_or_default(),
            });
            if !typ.is_empty() {
                m["type"] = json!(typ);
            }
            if rng.one_in(4) {
                m["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }
            push(doc, "/mounts", m);
        }
        3 => {
            let profile: Value =
                serde_json::from_slice(&crate::seccomp::generate(rng)).unwrap_or(Value::Null);
            gen::set(doc, "/linux/seccomp", profile);
        }
        4 => {
            let kind = rng.pick(&[
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop",
                "bogus",
            ]);
            let mut hook = json!({"path": rng.pick(&["/bin/true", "true", ""])});
            if rng.one_in(2) {
                hook["timeout"] = json!(rng.below(3) as i64 - 1);
            }
            push(doc, &format!("/hooks/{kind}"), hook);
        }
        5 => {
            let key = rng.interesting_string();
            gen::set(
                doc,
                &format!("/linux/sysctl/{}", key.replace('/', "~1")),
                json!("1"),
            );
        }
        6 => {
            let mut offsets = serde_json::Map::new();
            offsets.insert(
                (*rng.pick(&["monotonic", "boottime", "realtime"])).to_owned(),
                json!({"secs": rng.interesting_u64() as i64, "nanosecs": rng.below(2_000_000_000)}),
            );
            gen::set(doc, "/linux/timeOffsets", Value::Object(offsets));
        }
        7 => gen::set(
            doc,
            "/linux/rootfsPropagation",
            json!(rng.pick(&["rslave", "shared", "bogus", ""])),
        ),
        8 => push(
            doc,
            "/linux/devices",
            json!({"path": rng.pick(&["/dev/fuse", "dev/x", "/dev/../etc/passwd"]),
                   "type": rng.pick(&["c", "b", "p", "u", "x"]),
                   "major": rng.below(300), "minor": rng.below(300)}),
        ),
        9 => gen::set(doc, "/hostname", json!(rng.interesting_string())),
        10 => gen::set(doc, "/process/cwd", json!(rng.interesting_string())),
        11 => gen::set(
            doc,
            "/process/args",
            json!([rng.interesting_string(), rng.interesting_string()]),
        ),
        12 => gen::set(doc, "/root/path", json!(rng.interesting_string())),
        _ => gen::set(
            doc,
            "/linux/cgroupsPath",
            json!(rng.pick(&["/berth/x", "system.slice:berth:x", "relative", "/../../x"])),
        ),
    }
}

fn push(doc: &mut Value, pointer: &str, item: Value) {
    if !doc.pointer(pointer).is_some_and(Value::is_array) {
        gen::set(doc, pointer, json!([]));
    }
    if let Some(Value::Array(a)) = doc.pointer_mut(pointer) {
        a.push(item);
    }
}

/// The base config with a few snippets and random mutations.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut doc = base();
    for _ in 0..rng.below(4) {
        snippet(rng, &mut doc);
    }
    for _ in 0..rng.below(3) {
        gen::mutate(rng, &mut doc);
    }
    let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
    if rng.one_in(20) && !bytes.is_empty() {
        // A truncated or bit-flipped file.
        let i = rng.below(bytes.len());
        if rng.one_in(2) {
            bytes.truncate(i);
        } else {
            bytes[i] ^= 1 << rng.below(8);
        }
    }
    bytes
}
