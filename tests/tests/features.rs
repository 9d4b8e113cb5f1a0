//! `features`: the OCI features document (`runtime-spec:features.md`, contract §0.8
//! and §1.3) that containerd, Docker and CRI read to decide what to ask for.

use berth_e2e::{parse_mounts, unique_id, Bundle, Output, Runtime};
use serde_json::Value;

/// `features`, which must succeed and print nothing on stderr.
fn features(rt: &Runtime) -> (Output, Value) {
    let out = rt.exec(&["features"]);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    let doc = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features output is not JSON: {e}\n{out}"));
    (out, doc)
}

/// The strings of the array at `pointer`.
fn strings<'a>(doc: &'a Value, pointer: &str) -> Vec<&'a str> {
    doc.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{pointer} is not an array in\n{doc:#}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{pointer} has a non-string {v}"))
        })
        .collect()
}

/// `major.minor.patch[-suffix]` as numbers.
fn version(doc: &Value, key: &str) -> (u32, u32, u32) {
    let text = doc[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in\n{doc:#}"));
    let core = text.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<u32> = core.split('.').filter_map(|p| p.parse().ok()).collect();
    assert_eq!(parts.len(), 3, "{key} {text:?} is not a semver");
    (parts[0], parts[1], parts[2])
}

#[test]
fn features_document() {
    let rt = Runtime::new();
    let (out, doc) = features(&rt);

    // runc prints it with json.MarshalIndent(..., "", "    ").
    let second = out.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("    \"") && !second.starts_with("     "),
        "not 4-space indented: {second:?}"
    );
    for line in out.stdout.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        assert_eq!(indent % 4, 0, "indent of {line:?}");
        assert!(!line.starts_with('\t'), "tab in {line:?}");
    }

    let min = version(&doc, "ociVersionMin");
    let max = version(&doc, "ociVersionMax");
    assert_eq!(min.0, 1, "{doc:#}");
    assert!(min <= max, "ociVersionMin > ociVersionMax\n{doc:#}");

    let hooks = strings(&doc, "/hooks");
    for hook in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&hook), "no {hook} in hooks {hooks:?}");
    }

    let options = strings(&doc, "/mountOptions");
    // containerd's TestRuntimeInfo and Docker's read-only mounts need rro.
    for option in ["rro", "ro", "rw", "bind", "rbind", "nosuid", "noexec"] {
        assert!(options.contains(&option), "no {option} in {options:?}");
    }
    let mut sorted = options.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(options, sorted, "mountOptions sorted, no duplicates");

    let namespaces = strings(&doc, "/linux/namespaces");
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(namespaces.contains(&ns), "no {ns} in {namespaces:?}");
    }
    let capabilities = strings(&doc, "/linux/capabilities");
    for cap in ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"] {
        assert!(capabilities.contains(&cap), "no {cap} in {capabilities:?}");
    }
    for key in ["v1", "v2"] {
        assert!(
            doc["linux"]["cgroup"][key].is_boolean(),
            "linux.cgroup.{key}\n{doc:#}"
        );
    }

    // berth supports idmapped mounts (containerd's CRI enables user
    // namespaces only with this) and lists every seccomp action. runc 1.1.5
    // predates mountExtensions.
    if berth_e2e::is_berth() {
        assert_eq!(
            doc.pointer("/linux/seccomp/enabled"),
            Some(&Value::Bool(true)),
            "{doc:#}"
        );
        for action in ["SCMP_ACT_NOTIFY", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"] {
            assert!(
                doc["linux"]["seccomp"]["actions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == action)),
                "{action}\n{doc:#}"
            );
        }
        assert_eq!(
            doc.pointer("/linux/mountExtensions/idmap/enabled"),
            Some(&Value::Bool(true)),
            "{doc:#}"
        );
    }
}

#[test]
fn features_ignores_the_state_root() {
    // `features` needs no container and no state: a missing --root is fine.
    let rt = Runtime::new();
    let missing = rt.root().join("does-not-exist");
    let missing = missing.display().to_string();
    let out = rt.cmd_raw(&["--root", &missing, "features"]).output();
    out.ok();
    let doc: Value = serde_json::from_str(&out.stdout).expect("features JSON");
    assert!(doc["ociVersionMax"].is_string(), "{out}");
}

/// Options that need more than a fresh `kind` mount to make sense, or that only
/// runc lists.
fn needs_setup(kind: &str, option: &str) -> bool {
    match option {
        // The mount type itself: a tmpfs with it would be a bind of "tmpfs".
        "bind" | "rbind" => kind == "tmpfs",
        // Changes an existing mount; there is none at a fresh destination.
        "remount" => true,
        // runc only: copies the directory's content into the tmpfs.
        "tmpcopyup" => true,
        // Idmapped bind mounts need uid/gid mappings (tests/tests/idmap.rs).
        "idmap" | "ridmap" => true,
        _ => false,
    }
}

/// Listed options runc 1.1.5 itself fails on (its bugs, fixed in later runc):
/// `defaults` is passed to tmpfs as mount data (EINVAL), and the recursive atime
/// options `ratime`/`rnostrictatime` make mount_setattr fail on a bind mount.
fn runc_1_1_5_rejects(kind: &str, option: &str) -> bool {
    !berth_e2e::is_berth()
        && matches!(
            (kind, option),
            ("tmpfs", "defaults") | ("bind", "ratime" | "rnostrictatime")
        )
}

/// Per-mount options the kernel shows in /proc/self/mounts when they are in
/// effect, on any mount.
const VISIBLE: &[(&str, &str)] = &[
    ("ro", "ro"),
    ("nosuid", "nosuid"),
    ("nodev", "nodev"),
    ("noexec", "noexec"),
    ("noatime", "noatime"),
];

/// The recursive variants (mount_setattr with AT_RECURSIVE), shown like the plain
/// ones on the mount itself.
const RECURSIVE: &[(&str, &str)] = &[
    ("rro", "ro"),
    ("rnosuid", "nosuid"),
    ("rnodev", "nodev"),
    ("rnoexec", "noexec"),
];

/// Superblock options, in effect on a new tmpfs only (a bind mount shares the
/// source's superblock and cannot change them).
const SUPERBLOCK: &[(&str, &str)] = &[("sync", "sync"), ("dirsync", "dirsync")];

/// What `option` must show in /proc/self/mounts on a `kind` mount, if anything.
fn shown_as(kind: &str, option: &str) -> Option<&'static str> {
    let mut tables = vec![VISIBLE];
    // runc 1.1.5 applies the recursive attributes to bind mounts only and
    // silently ignores them elsewhere.
    if kind == "bind" || berth_e2e::is_berth() {
        tables.push(RECURSIVE);
    }
    if kind == "tmpfs" {
        tables.push(SUPERBLOCK);
    }
    tables
        .into_iter()
        .flatten()
        .find(|(o, _)| *o == option)
        .map(|(_, shown)| *shown)
}

/// Every option `features` lists is accepted by `run` (create) on a tmpfs and on a
/// bind mount (one container each, one mount per option), and the ones the kernel
/// shows are in effect.
#[test]
fn every_listed_mount_option_is_accepted() {
    let rt = Runtime::new();
    let (_, doc) = features(&rt);
    let listed = strings(&doc, "/mountOptions");
    let host = tempfile::tempdir().expect("tempdir");

    for kind in ["tmpfs", "bind"] {
        let options: Vec<&str> = listed
            .iter()
            .copied()
            .filter(|o| !needs_setup(kind, o) && !runc_1_1_5_rejects(kind, o))
            .collect();
        let id = unique_id(&format!("mount-options-{kind}"));
        let mut bundle = Bundle::new();
        bundle.args(&["cat", "/proc/self/mounts"]);
        for (i, option) in options.iter().enumerate() {
            let dest = format!("/m/{i}");
            match kind {
                "tmpfs" => bundle.mount(&dest, "tmpfs", "tmpfs", &[option]),
                _ => bundle.bind(host.path(), &dest, &[option]),
            };
        }
        let before = rt.leaks(&id, &bundle);
        let out = rt.run(&id, &bundle);
        assert!(out.success(), "{kind} with every listed option\n{out}");

        let mounts = parse_mounts(&out.stdout);
        for (i, option) in options.iter().enumerate() {
            let dest = format!("/m/{i}");
            let (_, _, _, flags) = mounts
                .iter()
                .rev()
                .find(|(_, target, _, _)| *target == dest)
                .unwrap_or_else(|| panic!("{kind} {dest} ({option}) not mounted\n{out}"));
            if let Some(shown) = shown_as(kind, option) {
                assert!(
                    flags.iter().any(|f| f == shown),
                    "{kind} {dest}: {option} not in effect: {flags:?}"
                );
            }
        }
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}
