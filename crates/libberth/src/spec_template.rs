//! The `config.json` that `berth spec` writes into a new bundle.
//!
//! It is runc's template, key for key and byte for byte: runc's integration
//! tests (and many users) generate a bundle with `runc spec` and then edit it
//! with `jq` by path (`.process.args`, `.linux.namespaces[1]`,
//! `.mounts[] | select(.destination == "/sys")`…), so the paths, the order of
//! array elements and the layout must be runc's.
//!
//! The source is runc's `libcontainer/specconv/example.go`: `Example()` for the
//! default spec, `ToRootless()` on top of it for `--rootless`, and the cgroup
//! namespace that `Example()` appends when the host is cgroup v2 unified.
//! We follow runc's main branch rather than the 1.1.x series:
//!
//! * `ociVersion` is the runtime-spec version berth implements (runc writes
//!   the `specs.Version` it was built against, `1.0.2-dev` in 1.1.x);
//! * `process.capabilities` has no `ambient` set: runc 1.1.2 stopped setting
//!   inheritable capabilities (CVE-2022-29162) and runc 1.2.0 dropped the
//!   ambient ones too (opencontainers/runc#4367), because a capability can
//!   only be ambient if it is also inheritable, so the ambient list silently
//!   did nothing.
//!
//! Everything else — masked and read-only paths included — is unchanged in
//! runc's main branch and is reproduced as is.
//!
//! Key order is Go's struct field order (that is what `encoding/json` emits);
//! the workspace builds `serde_json` with `preserve_order`, so a
//! [`serde_json::Map`] keeps the order in which keys are inserted here.

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The capabilities runc's template gives the container process.
const CAPABILITIES: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// Returns runc's default config.json for a new bundle, as pretty JSON
/// indented with tabs (as runc writes it), ending without trailing newline
/// exactly as runc's output does.
///
/// `rootless` applies runc's `ToRootless()`: the user's effective uid and gid
/// (`geteuid(2)`, `getegid(2)`) are mapped to root in a new user namespace.
/// `cgroup_v2_namespace` adds the `cgroup` namespace, which runc does when
/// the host is cgroup v2 unified.
pub fn render(oci_version: &str, rootless: bool, cgroup_v2_namespace: bool) -> String {
    let ids = rootless.then(|| {
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    });
    to_pretty(&template(oci_version, ids, cgroup_v2_namespace))
}

/// Builds the template; `rootless_ids` is the host (euid, egid) to map to
/// root when converting it with runc's `ToRootless()`, `None` for the
/// default (rootful) template.
fn template(oci_version: &str, rootless_ids: Option<(u32, u32)>, cgroup_ns: bool) -> Value {
    // specs.Spec: ociVersion, process, root, hostname, mounts, ..., linux.
    json!({
        "ociVersion": oci_version,
        "process": process(),
        "root": {
            "path": "rootfs",
            "readonly": true
        },
        "hostname": "runc",
        "mounts": mounts(rootless_ids.is_some()),
        "linux": linux(rootless_ids, cgroup_ns),
    })
}

/// `spec.Process` of runc's `Example()`.
fn process() -> Value {
    // specs.Process: terminal, ..., user, args, ..., env, cwd, capabilities,
    // rlimits, noNewPrivileges. specs.User: uid, gid (never omitted).
    // specs.LinuxCapabilities: bounding, effective, inheritable, permitted,
    // ambient; the empty ones are omitted.
    json!({
        "terminal": true,
        "user": {
            "uid": 0,
            "gid": 0
        },
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": CAPABILITIES,
            "effective": CAPABILITIES,
            "permitted": CAPABILITIES
        },
        "rlimits": [
            {
                "type": "RLIMIT_NOFILE",
                "hard": 1024,
                "soft": 1024
            }
        ],
        "noNewPrivileges": true
    })
}

/// One `specs.Mount`: destination, type, source, options (omitted when empty,
/// as Go omits a nil slice).
fn mount(destination: &str, fstype: &str, source: &str, options: &[&str]) -> Value {
    let mut m = Map::new();
    m.insert("destination".into(), destination.into());
    m.insert("type".into(), fstype.into());
    m.insert("source".into(), source.into());
    if !options.is_empty() {
        m.insert("options".into(), options.into());
    }
    Value::Object(m)
}

/// `spec.Mounts` of runc's `Example()`, converted as `ToRootless()` does when
/// `rootless` is set.
fn mounts(rootless: bool) -> Value {
    let nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"];
    let example: [(&str, &str, &str, &[&str]); 7] = [
        ("/proc", "proc", "proc", &[]),
        (
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        (
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        (
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        ("/dev/mqueue", "mqueue", "mqueue", &nosuid_noexec_nodev),
        (
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        (
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ];

    let converted = example
        .iter()
        .map(|&(destination, fstype, source, options)| {
            if !rootless {
                return mount(destination, fstype, source, options);
            }
            // ToRootless: a new sysfs can only be mounted by the owner of the
            // network namespace, and the rootless container shares the host's,
            // so /sys becomes a read-only recursive bind of the host's /sys.
            if destination == "/sys" {
                return mount(
                    "/sys",
                    "none",
                    "/sys",
                    &["rbind", "nosuid", "noexec", "nodev", "ro"],
                );
            }
            // ToRootless: only the caller's own ids are mapped, so uid=/gid=
            // options (devpts' gid=5, the tty group) name unmapped ids and would
            // make the mount fail with EINVAL.
            let kept: Vec<&str> = options
                .iter()
                .copied()
                .filter(|o| !o.starts_with("gid=") && !o.starts_with("uid="))
                .collect();
            mount(destination, fstype, source, &kept)
        });
    Value::Array(converted.collect())
}

/// `spec.Linux` of runc's `Example()`, converted as `ToRootless()` does when
/// `rootless_ids` is set.
fn linux(rootless_ids: Option<(u32, u32)>, cgroup_ns: bool) -> Value {
    // specs.Linux: uidMappings, gidMappings, sysctl, resources, cgroupsPath,
    // namespaces, devices, seccomp, rootfsPropagation, maskedPaths,
    // readonlyPaths, ...; the empty ones are omitted.
    let mut linux = Map::new();

    // Example(): pid, network, ipc, uts, mount, then cgroup on a cgroup v2
    // host.
    let mut namespaces = vec!["pid", "network", "ipc", "uts", "mount"];
    if cgroup_ns {
        namespaces.push("cgroup");
    }

    match rootless_ids {
        Some((euid, egid)) => {
            // ToRootless: map the caller to root (size 1, no subordinate ids).
            let mapping =
                |host_id: u32| json!([{ "containerID": 0, "hostID": host_id, "size": 1 }]);
            linux.insert("uidMappings".into(), mapping(euid));
            linux.insert("gidMappings".into(), mapping(egid));
            // ToRootless: drop the network namespace (an unprivileged user
            // cannot configure one, so runc shares the host's) and any user
            // namespace, then append a user namespace. `resources` is
            // removed because an unprivileged user cannot set cgroup limits
            // (no cgroup delegation is assumed).
            namespaces.retain(|ns| *ns != "network" && *ns != "user");
            namespaces.push("user");
        }
        None => {
            // Example(): deny access to every device; runc still allows its
            // default device list on top of this rule.
            linux.insert(
                "resources".into(),
                json!({ "devices": [{ "allow": false, "access": "rwm" }] }),
            );
        }
    }

    let namespaces: Vec<Value> = namespaces.iter().map(|ns| json!({ "type": ns })).collect();
    linux.insert("namespaces".into(), Value::Array(namespaces));
    linux.insert(
        "maskedPaths".into(),
        json!([
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi"
        ]),
    );
    linux.insert(
        "readonlyPaths".into(),
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]),
    );
    Value::Object(linux)
}

/// Serializes like Go's `json.MarshalIndent(spec, "", "\t")`, which is what
/// `runc spec` writes (with no trailing newline).
fn to_pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    // Serializing a `Value` into a `Vec` cannot fail: every map key is a
    // string and writing to a `Vec` performs no I/O.
    #[allow(clippy::expect_used)]
    value
        .serialize(&mut ser)
        .expect("serializing a serde_json::Value into memory cannot fail");
    // serde_json only emits UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    const VERSION: &str = "1.2.1";

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("template is valid JSON")
    }

    fn namespaces(spec: &Value) -> Vec<String> {
        spec["linux"]["namespaces"]
            .as_array()
            .expect("namespaces is an array")
            .iter()
            .map(|ns| ns["type"].as_str().expect("type is a string").to_owned())
            .collect()
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn output_parses_and_has_no_trailing_newline() {
        for rootless in [false, true] {
            for cgroup_ns in [false, true] {
                let out = render(VERSION, rootless, cgroup_ns);
                assert!(out.ends_with('}') && !out.ends_with('\n'));
                assert!(out.contains("\n\t\"process\": {\n\t\t\"terminal\": true,"));
                let spec = parse(&out);
                assert_eq!(spec["ociVersion"], VERSION);
                // oci-spec must accept it too: `berth run` reads it back.
                serde_json::from_str::<oci_spec::runtime::Spec>(&out)
                    .expect("template deserializes as an OCI spec");
            }
        }
    }

    #[test]
    fn key_order_is_runcs() {
        let spec = parse(&render(VERSION, false, false));
        assert_eq!(
            keys(&spec),
            [
                "ociVersion",
                "process",
                "root",
                "hostname",
                "mounts",
                "linux"
            ]
        );
        assert_eq!(
            keys(&spec["process"]),
            [
                "terminal",
                "user",
                "args",
                "env",
                "cwd",
                "capabilities",
                "rlimits",
                "noNewPrivileges"
            ]
        );
        assert_eq!(
            keys(&spec["linux"]),
            ["resources", "namespaces", "maskedPaths", "readonlyPaths"]
        );
        assert_eq!(
            keys(&spec["mounts"][1]),
            ["destination", "type", "source", "options"]
        );
        let rootless = parse(&render(VERSION, true, false));
        assert_eq!(
            keys(&rootless["linux"]),
            [
                "uidMappings",
                "gidMappings",
                "namespaces",
                "maskedPaths",
                "readonlyPaths"
            ]
        );
    }

    #[test]
    fn default_namespaces() {
        let spec = parse(&render(VERSION, false, false));
        assert_eq!(namespaces(&spec), ["pid", "network", "ipc", "uts", "mount"]);
        let spec = parse(&render(VERSION, false, true));
        assert_eq!(
            namespaces(&spec),
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
    }

    #[test]
    fn rootless_has_userns_and_no_netns() {
        let spec = parse(&to_pretty(&template(VERSION, Some((1000, 100)), true)));
        assert_eq!(
            namespaces(&spec),
            ["pid", "ipc", "uts", "mount", "cgroup", "user"]
        );
        assert_eq!(
            spec["linux"]["uidMappings"],
            json!([{ "containerID": 0, "hostID": 1000, "size": 1 }])
        );
        assert_eq!(
            spec["linux"]["gidMappings"],
            json!([{ "containerID": 0, "hostID": 100, "size": 1 }])
        );
        assert!(spec["linux"].get("resources").is_none());

        let mounts = spec["mounts"].as_array().expect("mounts is an array");
        let sys = mounts
            .iter()
            .find(|m| m["destination"] == "/sys")
            .expect("a /sys mount");
        assert_eq!(
            sys,
            &json!({
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            })
        );
        let pts = mounts
            .iter()
            .find(|m| m["destination"] == "/dev/pts")
            .expect("a /dev/pts mount");
        assert!(!pts["options"]
            .as_array()
            .expect("options")
            .iter()
            .any(|o| o.as_str().is_some_and(|o| o.starts_with("gid="))));
        // runc's ToRootless keeps the /sys/fs/cgroup mount.
        assert!(mounts.iter().any(|m| m["destination"] == "/sys/fs/cgroup"));
        // /proc has no options, and keeps none.
        assert!(mounts[0].get("options").is_none());
    }

    #[test]
    fn rootless_maps_the_callers_ids() {
        let spec = parse(&render(VERSION, true, false));
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], euid);
        assert_eq!(spec["linux"]["gidMappings"][0]["hostID"], egid);
    }

    /// Runs `runc spec [--rootless]` in a fresh directory and returns the
    /// bytes of the config.json it wrote.
    fn runc_spec(runc: &Path, rootless: bool) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(runc);
        cmd.arg("spec").current_dir(dir.path());
        if rootless {
            cmd.arg("--rootless");
        }
        let status = cmd.status().expect("run runc spec");
        assert!(status.success(), "runc spec failed: {status}");
        std::fs::read_to_string(dir.path().join("config.json")).expect("read runc's config.json")
    }

    /// Compares with the runc installed on the host, byte for byte, after
    /// normalizing what legitimately differs between runc 1.1.x and runc's
    /// main branch (which berth follows):
    ///
    /// * `ociVersion`: runc writes the runtime-spec version it was built
    ///   against (`1.0.2-dev` in 1.1.x); berth writes its own;
    /// * `process.capabilities.ambient`: present up to runc 1.1.x, removed in
    ///   runc 1.2.0 (opencontainers/runc#4367).
    ///
    /// Re-serializing runc's own output with [`to_pretty`] must give runc's
    /// bytes back, which checks that the formatting is Go's.
    #[test]
    fn matches_runc_spec() {
        let runc = Path::new("/usr/sbin/runc");
        if !runc.exists() {
            eprintln!(
                "note: {} not found, skipping the comparison with runc spec",
                runc.display()
            );
            return;
        }
        // runc's cgroups.IsCgroup2UnifiedMode(): /sys/fs/cgroup is cgroup2.
        let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();

        for rootless in [false, true] {
            let theirs = runc_spec(runc, rootless);
            let mut normalized = parse(&theirs);
            assert_eq!(
                to_pretty(&normalized),
                theirs,
                "formatting differs from Go's"
            );

            normalized["ociVersion"] = Value::from(VERSION);
            if let Some(caps) = normalized["process"]["capabilities"].as_object_mut() {
                caps.remove("ambient");
            }
            let ours = render(VERSION, rootless, cgroup_v2);
            assert_eq!(ours, to_pretty(&normalized), "rootless={rootless}");
        }
    }
}
