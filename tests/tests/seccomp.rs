//! `linux.seccomp`, checked from inside real containers: Docker's default profile
//! for a capability set, every action (ERRNO with and without errnoRet,
//! defaultErrnoRet, KILL*, TRAP, TRACE, LOG, ALLOW, NOTIFY), argument conditions,
//! both installation orders (noNewPrivileges true and false, root and uid 1000),
//! exec'd processes, the notify fd handed to an agent at `listenerPath`, profiles
//! that must be refused, and attacks from inside: loosening the filter by stacking
//! another, and reaching the denied syscall through the i386 and x32 ABIs.
//!
//! Profiles give each rule its own errno where they can, so that the message the
//! container prints proves which rule matched (not just that something failed).
//! The same profiles give the same verdicts under runc 1.1.5 (libseccomp 2.5.4).
//! busybox cannot install filters, catch SIGSYS or use other ABIs; for that the
//! container runs this test binary (see [`in_container_helper`]).

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_e2e::{is_berth, unique_id, workspace_root, Bundle, Output, Runtime};
use serde_json::{json, Value};

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `run` reports a container killed by SIGSYS as 128 + 31.
const KILLED_BY_SIGSYS: i32 = 128 + libc::SIGSYS;

/// Shell function for verdict tables: `t NAME CMD...` runs CMD with its stdout
/// discarded and prints `NAME rc=<exit code> <stderr on one line>`.
const T: &str = "t() { n=$1; shift; e=$(\"$@\" 2>&1 >/dev/null); r=$?; echo \"$n rc=$r\" $e; }; ";

/// The message glibc (and so busybox, statically linked against it) prints for
/// `errno`.
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.split_once(" (os error") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

/// `NAME -> (exit code, stderr)` from the lines the [`T`] function printed.
fn verdicts(out: &str) -> BTreeMap<String, (i32, String)> {
    out.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(" rc=")?;
            let (rc, message) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((name.to_string(), (rc.parse().ok()?, message.to_string())))
        })
        .collect()
}

/// Asserts that `name` succeeded.
#[track_caller]
fn allowed(table: &BTreeMap<String, (i32, String)>, name: &str) {
    let (rc, message) = table
        .get(name)
        .unwrap_or_else(|| panic!("no verdict for {name} in {table:#?}"));
    assert_eq!(*rc, 0, "{name} should be allowed: {message}\n{table:#?}");
}

/// Asserts that `name` failed with a message containing one of `needles`
/// (case-insensitive).
#[track_caller]
fn denied(table: &BTreeMap<String, (i32, String)>, name: &str, needles: &[&str]) {
    let (rc, message) = table
        .get(name)
        .unwrap_or_else(|| panic!("no verdict for {name} in {table:#?}"));
    let lower = message.to_lowercase();
    assert!(
        *rc != 0 && needles.iter().any(|n| lower.contains(&n.to_lowercase())),
        "{name} should fail with one of {needles:?}, got rc={rc} {message:?}\n{table:#?}"
    );
}

/// Go's name for the host architecture, as moby's profile `includes` use it.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no Docker profile conversion for {other}"),
    }
}

/// The host's native seccomp architecture.
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        other => panic!("no seccomp architecture for {other}"),
    }
}

/// moby's default profile (vendored for the differential test) as the OCI profile
/// moby's `setupSeccomp` makes of it for this host and the capabilities `caps`:
/// the native architecture with its sub-architectures, and the rules whose
/// `includes` hold and whose `excludes` do not.
fn docker_profile(caps: &[&str]) -> Value {
    let path = workspace_root().join("crates/berth-seccomp/src/docker-default.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw: Value = serde_json::from_str(&text).expect("docker profile is JSON");
    let goarch = goarch();
    let has = |list: &Value, x: &str| list.as_array().is_some_and(|l| l.iter().any(|v| v == x));
    let mut arches = Vec::new();
    for map in raw["archMap"].as_array().expect("archMap") {
        if map["architecture"] == native_arch() {
            arches.push(map["architecture"].clone());
            arches.extend(
                map["subArchitectures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let mut syscalls = Vec::new();
    for rule in raw["syscalls"].as_array().expect("syscalls") {
        let (inc, exc) = (&rule["includes"], &rule["excludes"]);
        if inc["arches"].is_array() && !has(&inc["arches"], goarch) {
            continue;
        }
        if let Some(need) = inc["caps"].as_array() {
            if !need.iter().all(|n| caps.iter().any(|c| n == c)) {
                continue;
            }
        }
        if has(&exc["arches"], goarch) {
            continue;
        }
        if let Some(ex) = exc["caps"].as_array() {
            if ex.iter().any(|n| caps.iter().any(|c| n == c)) {
                continue;
            }
        }
        let mut s = json!({"names": rule["names"], "action": rule["action"]});
        if !rule["args"].is_null() {
            s["args"] = rule["args"].clone();
        }
        if !rule["errnoRet"].is_null() {
            s["errnoRet"] = rule["errnoRet"].clone();
        }
        syscalls.push(s);
    }
    json!({
        "defaultAction": raw["defaultAction"],
        "defaultErrnoRet": raw["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

/// A profile that allows everything except `rules`.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

/// One rule denying mkdir (busybox calls mkdir(2); mkdirat on architectures
/// without it) with `errno`.
fn deny_mkdir(errno: i32) -> Value {
    json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno})
}

/// Sets the bounding, effective and permitted sets to `caps` (as Docker does).
fn set_caps(bundle: &mut Bundle, caps: &[&str]) {
    bundle.set(
        "/process/capabilities",
        json!({"bounding": caps, "effective": caps, "permitted": caps}),
    );
}

fn set_seccomp(bundle: &mut Bundle, profile: Value) {
    bundle.set("/linux/seccomp", profile);
}

/// Runs a container from `bundle` in the foreground; returns its output.
fn run(rt: &Runtime, tag: &str, bundle: &Bundle) -> Output {
    rt.run(&unique_id(tag), bundle)
}

/// Runs `script` (after the [`T`] function) with `edit` applied; exit 0 expected.
fn run_table(
    tag: &str,
    edit: impl FnOnce(&mut Bundle),
    script: &str,
) -> BTreeMap<String, (i32, String)> {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.sh(&format!("{T}{script}"));
    edit(&mut bundle);
    let out = run(&rt, tag, &bundle);
    out.ok();
    verdicts(&out.stdout)
}

/// What Docker's default profile must allow and deny, tried from inside.
/// `reboot -f` would be harmless even if it got through: the container holds no
/// CAP_SYS_BOOT and has its own pid namespace.
const DOCKER_SCRIPT: &str = "\
    t ls ls / ; \
    t cat cat /etc/passwd ; \
    t mkdir mkdir /tmp/d ; \
    t write sh -c 'echo x > /tmp/f' ; \
    t chown chown 5:5 /tmp/d ; \
    t mknod mknod /tmp/null c 1 3 ; \
    t chroot chroot / true ; \
    t linux32 linux32 true ; \
    t netlink ip link ; \
    t unshare-user unshare -U true ; \
    t unshare-mount unshare -m true ; \
    t unshare-net unshare -n true ; \
    t unshare-uts unshare -u true ; \
    t mount mount -t tmpfs none /tmp/d ; \
    t umount umount /proc ; \
    t pivot_root pivot_root /tmp /tmp/d ; \
    t setns nsenter -t 1 -m true ; \
    t sethostname hostname berth-e2e ; \
    t swapoff swapoff /tmp/f ; \
    t syslog dmesg ; \
    t reboot reboot -f ; \
    true";

/// The syscalls Docker's profile denies to a container without CAP_SYS_ADMIN,
/// CAP_SYSLOG and CAP_SYS_BOOT.
const DOCKER_DENIED: &[&str] = &[
    "unshare-user",
    "unshare-mount",
    "unshare-net",
    "unshare-uts",
    "mount",
    "umount",
    "pivot_root",
    "setns",
    "sethostname",
    "swapoff",
    "syslog",
    "reboot",
];

/// EPERM as busybox reports it (`mount` rewords it).
const EPERM: &[&str] = &["Operation not permitted", "permission denied"];

/// Docker's default profile for Docker's default capabilities, with
/// noNewPrivileges false (Docker's default: the filter goes in before the
/// capabilities are dropped, so the runtime's own remaining syscalls must pass
/// it) and true (right before execve), and for uid 1000: ordinary work succeeds,
/// the syscalls the profile leaves out fail with EPERM.
#[test]
fn docker_default_profile() {
    for (nnp, uid) in [(false, 0), (true, 0), (false, 1000)] {
        let table = run_table(
            "docker-default",
            |b| {
                set_caps(b, DOCKER_CAPS);
                set_seccomp(b, docker_profile(DOCKER_CAPS));
                b.set("/process/noNewPrivileges", json!(nnp))
                    .user(uid, uid, &[]);
            },
            DOCKER_SCRIPT,
        );
        for name in ["ls", "cat", "mkdir", "write", "linux32", "netlink"] {
            allowed(&table, name);
        }
        // Capabilities do not survive a non-root execve (no ambient set here),
        // so these only work for root.
        if uid == 0 {
            for name in ["chown", "mknod", "chroot"] {
                allowed(&table, name);
            }
        }
        for name in DOCKER_DENIED {
            denied(&table, name, EPERM);
        }
    }

    // Without the profile the same capabilities let `unshare -U` through (a user
    // namespace needs no capability): the profile is what denies it above.
    let table = run_table(
        "docker-no-profile",
        |b| set_caps(b, DOCKER_CAPS),
        "t unshare-user unshare -U true",
    );
    allowed(&table, "unshare-user");
}

/// The profile, not the capability, is the gate: a container holding
/// CAP_SYS_ADMIN gets mount, unshare, setns and sethostname only when its profile
/// was built for CAP_SYS_ADMIN (moby's `includes.caps`).
#[test]
fn docker_default_profile_follows_the_capability_set() {
    let mut with_admin = DOCKER_CAPS.to_vec();
    with_admin.push("CAP_SYS_ADMIN");
    let script = "\
        mkdir /tmp/d; \
        t mount mount -t tmpfs none /tmp/d ; \
        t unshare-user unshare -U true ; \
        t unshare-mount unshare -m true ; \
        t setns nsenter -t 1 -m true ; \
        t sethostname hostname berth-e2e ; \
        t syslog dmesg ; \
        true";
    let gated = [
        "mount",
        "unshare-user",
        "unshare-mount",
        "setns",
        "sethostname",
    ];

    // The profile for Docker's capabilities, CAP_SYS_ADMIN held anyway.
    let table = run_table(
        "docker-admin-cap",
        |b| {
            set_caps(b, &with_admin);
            set_seccomp(b, docker_profile(DOCKER_CAPS));
        },
        script,
    );
    for name in gated.iter().chain(&["syslog"]) {
        denied(&table, name, EPERM);
    }

    // The profile for the capabilities the container holds.
    let table = run_table(
        "docker-admin-profile",
        |b| {
            set_caps(b, &with_admin);
            set_seccomp(b, docker_profile(&with_admin));
        },
        script,
    );
    for name in gated {
        allowed(&table, name);
    }
    // syslog(2) needs CAP_SYSLOG in the profile's eyes.
    denied(&table, "syslog", EPERM);
}

/// `errnoRet` on a rule, the EPERM default without it, SCMP_ACT_TRACE with no
/// tracer, and `defaultErrnoRet` for the syscalls no rule names.
#[test]
fn errno_ret_and_default_errno_ret() {
    let table = run_table(
        "errno-ret",
        |b| {
            set_seccomp(
                b,
                allow_all_but(json!([
                    deny_mkdir(libc::EXDEV),
                    // A name no architecture knows is skipped, as libseccomp
                    // does; the rest of the rule stands.
                    {"names": ["berth_e2e_no_such_syscall", "rmdir"], "action": "SCMP_ACT_ERRNO"},
                    // No tracer is attached: the call fails with ENOSYS
                    // (seccomp(2), SECCOMP_RET_TRACE).
                    {"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_TRACE",
                     "errnoRet": 7},
                ])),
            );
        },
        "t mkdir mkdir /tmp/x ; t rmdir rmdir /tmp ; t symlink ln -s /tmp /tmp/l ; \
         t touch touch /tmp/y",
    );
    denied(&table, "mkdir", &[&strerror(libc::EXDEV)]);
    denied(&table, "rmdir", &[&strerror(libc::EPERM)]);
    denied(&table, "symlink", &[&strerror(libc::ENOSYS)]);
    allowed(&table, "touch");

    // Docker's profile with another default errno: what it leaves out fails with
    // that errno, what it names is untouched.
    let mut profile = docker_profile(DOCKER_CAPS);
    profile["defaultErrnoRet"] = json!(libc::EXDEV);
    let table = run_table(
        "default-errno-ret",
        |b| {
            set_caps(b, DOCKER_CAPS);
            set_seccomp(b, profile);
        },
        "t unshare unshare -U true ; t sethostname hostname x ; t mkdir mkdir /tmp/x",
    );
    denied(&table, "unshare", &[&strerror(libc::EXDEV)]);
    denied(&table, "sethostname", &[&strerror(libc::EXDEV)]);
    allowed(&table, "mkdir");
}

/// SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL (the thread) and SCMP_ACT_KILL_THREAD:
/// the offending process dies of SIGSYS before the syscall runs. When it is the
/// container's init, `run` exits 159.
#[test]
fn kill_actions() {
    let rt = Runtime::new();
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let profile = allow_all_but(json!([{"names": ["mkdir", "mkdirat"], "action": action}]));

        // init itself makes the call.
        let mut bundle = Bundle::new();
        bundle.args(&["mkdir", "/tmp/x"]);
        set_seccomp(&mut bundle, profile.clone());
        let out = run(&rt, "kill-init", &bundle);
        assert_eq!(out.code(), KILLED_BY_SIGSYS, "{action}\n{out}");
        assert!(
            !bundle.rootfs().join("tmp/x").exists(),
            "{action}: mkdir ran"
        );

        // A child makes it: the child dies, init goes on.
        let mut bundle = Bundle::new();
        bundle.sh("(mkdir /tmp/x); echo rc=$?; echo init-alive");
        set_seccomp(&mut bundle, profile);
        let out = run(&rt, "kill-child", &bundle);
        out.ok();
        assert_eq!(
            out.stdout,
            format!("rc={KILLED_BY_SIGSYS}\ninit-alive\n"),
            "{action}\n{out}"
        );
        assert!(
            !bundle.rootfs().join("tmp/x").exists(),
            "{action}: mkdir ran"
        );
    }
}

/// SCMP_ACT_TRAP sends SIGSYS without killing outright: a process that does not
/// handle it dies of it, and the syscall does not run.
#[test]
fn trap_action() {
    let rt = Runtime::new();
    let profile =
        allow_all_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"}]));
    let mut bundle = Bundle::new();
    bundle.sh("(mkdir /tmp/x); echo rc=$?; echo init-alive");
    set_seccomp(&mut bundle, profile.clone());
    let out = run(&rt, "trap", &bundle);
    out.ok();
    assert_eq!(
        out.stdout,
        format!("rc={KILLED_BY_SIGSYS}\ninit-alive\n"),
        "{out}"
    );
    assert!(!bundle.rootfs().join("tmp/x").exists(), "mkdir ran");

    let mut bundle = Bundle::new();
    bundle.args(&["mkdir", "/tmp/x"]);
    set_seccomp(&mut bundle, profile);
    let out = run(&rt, "trap-init", &bundle);
    assert_eq!(out.code(), KILLED_BY_SIGSYS, "{out}");
}

/// SCMP_ACT_LOG lets the syscall run.
#[test]
fn log_action_allows() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.sh("mkdir /tmp/logged && echo made");
    set_seccomp(
        &mut bundle,
        allow_all_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}])),
    );
    let out = run(&rt, "log", &bundle);
    out.ok();
    assert_eq!(out.stdout, "made\n");
    assert!(bundle.rootfs().join("tmp/logged").is_dir());
}

/// Argument conditions: equality on arg0 with full 64-bit values, several
/// arguments in one rule (all must hold), masked equality, and runc's reading of
/// one argument named twice (each condition is a rule of its own, so they OR).
#[test]
fn argument_conditions() {
    const AF_INET: u64 = 2;
    const AF_NETLINK: u64 = 16;
    const SOCK_STREAM: u64 = 1;
    const NETLINK_AUDIT: u64 = 9;
    const PER_LINUX32: u64 = 8;
    let profile = allow_all_but(json!([
        // busybox linux32: personality(PER_LINUX32).
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [{"index": 0, "value": PER_LINUX32, "op": "SCMP_CMP_EQ"}]},
        // Differs from linux64's personality(0) only above bit 31: must not match.
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
         "args": [{"index": 0, "value": 1u64 << 32, "op": "SCMP_CMP_EQ"}]},
        // busybox nc: socket(AF_INET, SOCK_STREAM, 0); the type masked so that
        // SOCK_CLOEXEC or SOCK_NONBLOCK would not matter.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EAFNOSUPPORT,
         "args": [
            {"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 0xf, "valueTwo": SOCK_STREAM, "op": "SCMP_CMP_MASKED_EQ"}
         ]},
        // ip: socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE). arg0 matches, arg2 does
        // not, so the rule does not apply.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
         "args": [
            {"index": 0, "value": AF_NETLINK, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": NETLINK_AUDIT, "op": "SCMP_CMP_EQ"}
         ]},
    ]));
    let table = run_table(
        "args",
        |b| set_seccomp(b, profile),
        "t linux32 linux32 true ; t linux64 linux64 true ; \
         t nc nc 127.0.0.1 9 ; t netlink ip link",
    );
    denied(&table, "linux32", &[&strerror(libc::EXDEV)]);
    allowed(&table, "linux64");
    denied(&table, "nc", &[&strerror(libc::EAFNOSUPPORT)]);
    allowed(&table, "netlink");

    // One argument in two conditions: runc adds each as its own rule
    // (`libcontainer/seccomp/seccomp_linux.go`, matchCall), so arg0 < 1 OR
    // arg0 > 0xfffffff0 — personality(0) is denied, personality(8) is not.
    let profile = allow_all_but(json!([
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_LT"},
            {"index": 0, "value": 0xffff_fff0u64, "op": "SCMP_CMP_GT"}
         ]},
        // GE, LE and NE in one rule: all three must hold.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
         "args": [
            {"index": 0, "value": AF_INET, "op": "SCMP_CMP_GE"},
            {"index": 1, "value": SOCK_STREAM, "op": "SCMP_CMP_LE"},
            {"index": 2, "value": 1, "op": "SCMP_CMP_NE"}
         ]},
    ]));
    let table = run_table(
        "args-or",
        |b| set_seccomp(b, profile),
        "t linux32 linux32 true ; t linux64 linux64 true ; \
         t nc nc 127.0.0.1 9 ; t netlink ip link",
    );
    denied(&table, "linux64", &[&strerror(libc::EXDEV)]);
    allowed(&table, "linux32");
    // nc: AF_INET >= 2, SOCK_STREAM <= 1, protocol 0 != 1: denied.
    denied(&table, "nc", &[&strerror(libc::ENOTTY)]);
    // ip: AF_NETLINK >= 2, but SOCK_RAW (3) > 1: allowed.
    allowed(&table, "netlink");
}

/// The filter is in place whichever order it is installed in (before the
/// capabilities are dropped when noNewPrivileges is false, right before execve
/// when it is true), for root and for uid 1000.
#[test]
fn no_new_privileges_both_ways_and_non_root() {
    for nnp in [false, true] {
        for uid in [0, 1000] {
            let rt = Runtime::new();
            let mut bundle = Bundle::new();
            bundle
                .sh(&format!(
                    "{T}grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; \
                     t mkdir mkdir /tmp/x ; t touch touch /tmp/y ; id -u"
                ))
                .user(uid, uid, &[])
                .set("/process/noNewPrivileges", json!(nnp));
            set_seccomp(&mut bundle, allow_all_but(json!([deny_mkdir(libc::EXDEV)])));
            let out = run(&rt, "nnp", &bundle);
            out.ok();
            let what = format!("noNewPrivileges {nnp}, uid {uid}\n{out}");
            let status = |key: &str| {
                out.stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::trim)
                    .unwrap_or_else(|| panic!("no {key}: {what}"))
                    .to_string()
            };
            assert_eq!(status("NoNewPrivs:"), if nnp { "1" } else { "0" }, "{what}");
            assert_eq!(status("Seccomp:"), "2", "filter mode: {what}");
            // One filter, as runc installs (the line exists since Linux 5.9).
            if out.stdout.contains("Seccomp_filters:") {
                assert_eq!(status("Seccomp_filters:"), "1", "{what}");
            }
            let table = verdicts(&out.stdout);
            denied(&table, "mkdir", &[&strerror(libc::EXDEV)]);
            allowed(&table, "touch");
            assert!(out.stdout.ends_with(&format!("{uid}\n")), "{what}");
        }
    }
}

/// A process started by `exec` gets the container's profile too.
#[test]
fn exec_gets_the_profile() {
    for nnp in [false, true] {
        let rt = Runtime::new();
        let id = unique_id("seccomp-exec");
        let mut bundle = Bundle::new();
        bundle
            .args(&["sleep", "120"])
            .set("/process/noNewPrivileges", json!(nnp));
        set_seccomp(&mut bundle, allow_all_but(json!([deny_mkdir(libc::EXDEV)])));
        rt.run_detached(&id, &bundle).ok();
        rt.wait_status(&id, "running");

        let out = rt.exec(&["exec", &id, "mkdir", "/tmp/x"]);
        out.fails().stderr_mentions(&[&strerror(libc::EXDEV)]);
        assert!(!bundle.rootfs().join("tmp/x").exists());

        let out = rt.exec(&["exec", "--user", "1000:1000", &id, "mkdir", "/tmp/x"]);
        out.fails().stderr_mentions(&[&strerror(libc::EXDEV)]);

        let out = rt.exec(&["exec", &id, "grep", "^Seccomp:", "/proc/self/status"]);
        out.ok();
        assert_eq!(out.stdout.split_whitespace().nth(1), Some("2"), "{out}");
        let out = rt.exec(&["exec", &id, "touch", "/tmp/y"]);
        out.ok();
        rt.delete_force(&id).ok();
    }
}

// ---------------------------------------------------------------------------
// SCMP_ACT_NOTIFY: a seccomp agent on the test side.

/// `struct seccomp_data` (linux/seccomp.h).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// `SECCOMP_IOWR(0, struct seccomp_notif)`.
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
/// `SECCOMP_IOWR(1, struct seccomp_notif_resp)`.
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
/// Lets the syscall run as if there were no filter.
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;

/// How the agent answers one notification.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Fail the syscall with this errno.
    Fail(i32),
    /// Let it run (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    Continue,
}

/// One notification the agent handled.
#[derive(Debug)]
struct Notification {
    pid: u32,
    nr: i32,
    /// `/proc/<pid>/ns/pid` of the notifying process, read while it waits.
    pid_ns: String,
}

/// What the agent saw on its one connection.
struct AgentReport {
    payload: Value,
    /// How many fds came with the message.
    fds: usize,
    /// `readlink /proc/self/fd/<fd>` of the (first) fd received.
    fd_kind: String,
    notifications: Vec<Notification>,
    /// The listening socket, to check that nobody else connected.
    listener: UnixListener,
}

/// A seccomp agent listening on a unix socket, as containerd's or podman's
/// would: it accepts one connection, reads the container process state and the
/// notify fd, and answers notifications from that fd in the order given.
struct Agent {
    path: PathBuf,
    thread: Option<JoinHandle<AgentReport>>,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(answers: Vec<Answer>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-agent-")
            .tempdir()
            .expect("agent dir");
        let mut agent = Agent {
            path: dir.path().join("agent.sock"),
            thread: None,
            _dir: dir,
        };
        agent.listen(answers);
        agent
    }

    /// Binds the socket afresh and serves one connection in a thread.
    fn listen(&mut self, answers: Vec<Answer>) {
        let _ = fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind agent socket");
        self.thread = Some(std::thread::spawn(move || agent(listener, &answers)));
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 socket path")
    }

    /// Waits for the agent to finish its connection; panics with its panic.
    fn join(&mut self) -> AgentReport {
        let thread = self.thread.take().expect("the agent is listening");
        match thread.join() {
            Ok(report) => report,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Polls `fd` for `events` for at most `timeout`; returns the revents.
fn poll(fd: RawFd, events: libc::c_short, timeout: Duration) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: poll(2) on one pollfd we own.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    pfd.revents
}

/// One recvmsg(2) on `conn`: the bytes, and every fd passed with them.
fn recv_with_fds(
    conn: &UnixStream,
    flags: libc::c_int,
) -> std::io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = [0u8; 8192];
    // Room for several fds: the test counts what arrives.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid starting point.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, flags | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    assert_eq!(
        msg.msg_flags & libc::MSG_CTRUNC,
        0,
        "control data truncated"
    );
    let mut fds = Vec::new();
    // SAFETY: CMSG_* walk the control buffer the kernel filled in; each fd in an
    // SCM_RIGHTS message is new and ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let first = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                for i in 0..bytes / std::mem::size_of::<libc::c_int>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(first.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((buf[..n as usize].to_vec(), fds))
}

fn agent(listener: UnixListener, answers: &[Answer]) -> AgentReport {
    assert!(
        poll(listener.as_raw_fd(), libc::POLLIN, Duration::from_secs(30)) != 0,
        "nobody connected to the agent"
    );
    let (conn, _) = listener.accept().expect("accept");
    assert!(
        poll(conn.as_raw_fd(), libc::POLLIN, Duration::from_secs(20)) != 0,
        "the runtime connected but sent nothing"
    );
    // Agents read the state with one recvmsg (runc's contrib/cmd/seccompagent):
    // the whole JSON document and the fd must come in it. `exec` keeps the
    // connection open while the process runs, so there is no EOF to read to.
    let (data, fds) = recv_with_fds(&conn, 0).expect("recvmsg");
    let payload: Value = serde_json::from_slice(&data).unwrap_or_else(|e| {
        panic!(
            "the first message is not one whole JSON document: {e}: {:?}",
            String::from_utf8_lossy(&data)
        )
    });
    let notify = fds.first().expect("no fd came with the message");
    let fd_kind = fs::read_link(format!("/proc/self/fd/{}", notify.as_raw_fd()))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut notifications = Vec::new();
    for answer in answers {
        let revents = poll(notify.as_raw_fd(), libc::POLLIN, Duration::from_secs(20));
        assert!(
            revents & libc::POLLIN != 0,
            "no notification (revents {revents:#x}) after {notifications:?}"
        );
        let mut req = SeccompNotif::default();
        // SAFETY: NOTIF_RECV fills the zeroed struct seccomp_notif we own.
        let rc = unsafe { libc::ioctl(notify.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let pid_ns = fs::read_link(format!("/proc/{}/ns/pid", req.pid))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        notifications.push(Notification {
            pid: req.pid,
            nr: req.data.nr,
            pid_ns,
        });
        let (error, flags) = match answer {
            Answer::Fail(errno) => (-errno, 0),
            Answer::Continue => (0, SECCOMP_USER_NOTIF_FLAG_CONTINUE),
        };
        let resp = SeccompNotifResp {
            id: req.id,
            val: 0,
            error,
            flags,
        };
        // SAFETY: NOTIF_SEND reads the struct seccomp_notif_resp we own.
        let rc = unsafe { libc::ioctl(notify.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
        assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    }
    // Nothing followed the message: EOF, or nothing yet.
    match recv_with_fds(&conn, libc::MSG_DONTWAIT) {
        Ok((more, more_fds)) => assert!(
            more.is_empty() && more_fds.is_empty(),
            "more after the state: {:?}, {} fds",
            String::from_utf8_lossy(&more),
            more_fds.len()
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    AgentReport {
        payload,
        fds: fds.len(),
        fd_kind,
        notifications,
        listener,
    }
}

/// Whether a mkdir(2) or mkdirat(2) number.
fn is_mkdir(nr: i32) -> bool {
    let nr = i64::from(nr);
    #[cfg(target_arch = "x86_64")]
    if nr == libc::SYS_mkdir {
        return true;
    }
    nr == libc::SYS_mkdirat
}

/// A profile notifying the agent of every mkdir.
fn notify_mkdir(listener: Option<&str>) -> Value {
    let mut profile = allow_all_but(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}
    ]));
    if let Some(path) = listener {
        profile["listenerPath"] = json!(path);
        profile["listenerMetadata"] = json!("berth-e2e agent metadata");
    }
    profile
}

/// SCMP_ACT_NOTIFY: the agent gets exactly one message on one connection — the
/// container process state with one fd, the notify fd — and its answers decide:
/// the first mkdir fails with the errno it chose, the second runs
/// (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
#[test]
fn notify_goes_to_the_agent_and_its_answer_holds() {
    for nnp in [true, false] {
        let rt = Runtime::new();
        let mut agent = Agent::start(vec![Answer::Fail(libc::EXDEV), Answer::Continue]);
        let id = unique_id("notify");
        let mut bundle = Bundle::new();
        bundle
            .sh("mkdir /tmp/a 2>&1; echo a=$?; mkdir /tmp/b 2>&1; echo b=$?")
            .set("/process/noNewPrivileges", json!(nnp));
        set_seccomp(&mut bundle, notify_mkdir(Some(agent.path())));
        let created = rt.create(&id, &bundle);
        created.ok();
        let pid = rt.state(&id)["pid"].as_i64().expect("init pid");
        let init_ns = fs::read_link(format!("/proc/{pid}/ns/pid")).expect("init pid ns");
        rt.start(&id).ok();
        let report = agent.join();
        rt.wait_status(&id, "stopped");
        let out = created.stdout_now();
        let what = format!("noNewPrivileges {nnp}\n{created}\ncontainer stdout: {out}");

        let p = &report.payload;
        assert_eq!(p["fds"], json!(["seccompFd"]), "{p:#}\n{what}");
        assert_eq!(p["pid"], json!(pid), "{p:#}\n{what}");
        assert_eq!(p["metadata"], "berth-e2e agent metadata", "{p:#}");
        assert!(p["ociVersion"].is_string(), "{p:#}");
        assert_eq!(p["state"]["id"], json!(id), "{p:#}");
        assert_eq!(p["state"]["pid"], json!(pid), "{p:#}");
        assert_eq!(
            p["state"]["bundle"],
            json!(bundle.path().display().to_string()),
            "{p:#}"
        );
        assert_eq!(report.fds, 1, "exactly one fd: {p:#}");
        assert_eq!(report.fd_kind, "anon_inode:seccomp notify");

        for n in &report.notifications {
            assert!(is_mkdir(n.nr), "{:?}", report.notifications);
            assert_eq!(
                Path::new(&n.pid_ns),
                init_ns,
                "notified by a process outside the container: {n:?}"
            );
        }
        assert_eq!(
            out,
            format!(
                "mkdir: can't create directory '/tmp/a': {}\na=1\nb=0\n",
                strerror(libc::EXDEV)
            ),
            "{what}"
        );
        assert!(!bundle.rootfs().join("tmp/a").exists());
        assert!(bundle.rootfs().join("tmp/b").is_dir());

        // One connection only.
        report
            .listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        assert!(
            report.listener.accept().is_err(),
            "the runtime connected twice"
        );
        rt.delete(&id).ok();
    }
}

/// An exec'd process under a NOTIFY profile hands its own notify fd to the agent,
/// with its own pid.
#[test]
fn notify_for_exec() {
    let rt = Runtime::new();
    let id = unique_id("notify-exec");
    let mut bundle = Bundle::new();
    bundle.args(&["sleep", "120"]);
    // The agent first serves init, which never calls mkdir.
    let mut agent = Agent::start(Vec::new());
    set_seccomp(&mut bundle, notify_mkdir(Some(agent.path())));
    rt.run_detached(&id, &bundle).ok();
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().expect("pid");
    let first = agent.join();
    assert_eq!(first.payload["pid"], json!(pid));
    drop(first);

    // Then the exec'd process, on a new connection.
    agent.listen(vec![Answer::Fail(libc::EXDEV)]);
    let out = rt.exec(&["exec", &id, "mkdir", "/tmp/e"]);
    out.fails().stderr_mentions(&[&strerror(libc::EXDEV)]);
    let report = agent.join();
    let exec_pid = report.payload["pid"].as_i64().expect("exec pid");
    assert_ne!(exec_pid, pid, "the exec'd process has its own pid");
    assert_eq!(report.payload["state"]["id"], json!(id));
    assert_eq!(report.payload["state"]["pid"], json!(pid));
    assert_eq!(report.fds, 1);
    assert_eq!(report.notifications.len(), 1);
    // The exec'd process is mkdir itself.
    assert_eq!(i64::from(report.notifications[0].pid), exec_pid);
    assert!(!bundle.rootfs().join("tmp/e").exists());
    rt.delete_force(&id).ok();
}

/// Creates from a bundle edited by `edit`; asserts it fails with exit 1 leaving
/// nothing behind, and returns the output.
fn create_fails_cleanly(tag: &str, edit: impl FnOnce(&mut Bundle)) -> (Output, Bundle) {
    let rt = Runtime::new();
    let id = unique_id(tag);
    let mut bundle = Bundle::new();
    edit(&mut bundle);
    let before = rt.leaks(&id, &bundle);
    let out = rt.create(&id, &bundle);
    out.fails();
    assert_eq!(out.code(), 1, "{out}");
    rt.exec(&["state", &id]).fails();
    rt.assert_nothing_left(&id, &bundle, &before);
    (out, bundle)
}

/// NOTIFY needs somewhere to send the fd: without `listenerPath`, or with one
/// nobody listens on, `create` fails and leaves nothing behind.
#[test]
fn notify_without_a_listener_is_refused() {
    let (out, bundle) = create_fails_cleanly("notify-no-listener", |b| {
        set_seccomp(b, notify_mkdir(None));
    });
    if is_berth() {
        out.stderr_mentions(&["linux.seccomp.listenerPath"]);
        out.stderr_mentions(&[&bundle.path().join("config.json").display().to_string()]);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody.sock");
    let (out, _) = create_fails_cleanly("notify-no-agent", |b| {
        set_seccomp(b, notify_mkdir(Some(missing.to_str().expect("utf-8"))));
    });
    out.stderr_mentions(&[&missing.display().to_string()]);
}

/// `flags` (runc 1.1.5 refuses any: "seccomp flags are not yet supported by
/// runc"): the ones the kernel knows are accepted and the filter works.
#[test]
fn filter_flags() {
    if berth_e2e::skip_unless_berth("runc 1.1.5 supports no linux.seccomp.flags") {
        return;
    }
    let mut profile = allow_all_but(json!([deny_mkdir(libc::EXDEV)]));
    profile["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    ]);
    let table = run_table(
        "flags",
        |b| set_seccomp(b, profile),
        "t mkdir mkdir /tmp/x ; t touch touch /tmp/y",
    );
    denied(&table, "mkdir", &[&strerror(libc::EXDEV)]);
    allowed(&table, "touch");
}

/// Profiles that cannot be compiled are refused by `create`, naming the config
/// file and `linux.seccomp`.
#[test]
fn bad_profiles_are_refused() {
    // (what, profile, what the message must name, what runc 1.1.5 does)
    let cases = [
        (
            "unknown action",
            allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}])),
            "SCMP_ACT_BOGUS",
            Runc::RefusesNaming,
        ),
        (
            "unknown architecture",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"],
                   "syscalls": [deny_mkdir(libc::EXDEV)]}),
            "SCMP_ARCH_BOGUS",
            Runc::RefusesNaming,
        ),
        (
            "unknown operator",
            allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}])),
            "SCMP_CMP_BOGUS",
            Runc::RefusesNaming,
        ),
        // runc 1.1.5 refuses every flag without looking at it.
        (
            "unknown flag",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"],
                   "syscalls": [deny_mkdir(libc::EXDEV)]}),
            "SECCOMP_FILTER_FLAG_BOGUS",
            Runc::Refuses,
        ),
        // runc 1.1.5 ignores errnoRet unless the action is ERRNO or TRACE
        // (`libcontainer/seccomp/seccomp_linux.go`, getAction); berth refuses a
        // profile that says something it will not do.
        (
            "errnoRet on an ALLOW rule",
            json!({"defaultAction": "SCMP_ACT_ERRNO",
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}]}),
            "errnoRet",
            Runc::Accepts,
        ),
    ];
    for (what, profile, needle, runc) in cases {
        if runc == Runc::Accepts && !is_berth() {
            let rt = Runtime::new();
            let id = unique_id("bad-profile");
            let mut bundle = Bundle::new();
            set_seccomp(&mut bundle, profile);
            rt.create(&id, &bundle).ok();
            rt.delete_force(&id).ok();
            continue;
        }
        let (out, bundle) = create_fails_cleanly("bad-profile", |b| set_seccomp(b, profile));
        if is_berth() || runc == Runc::RefusesNaming {
            out.stderr_mentions(&[needle]);
        }
        if is_berth() {
            // runc reports these from its conversions for libseccomp, naming
            // neither the file nor the field.
            let config = bundle.path().join("config.json").display().to_string();
            assert!(
                out.stderr.contains("linux.seccomp") && out.stderr.contains(&config),
                "{what}: the error should name {config} and linux.seccomp\n{out}"
            );
        }
    }
}

/// How runc 1.1.5 takes a profile berth refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runc {
    /// Fails, naming the bad value.
    RefusesNaming,
    /// Fails for another reason.
    Refuses,
    /// Creates the container.
    Accepts,
}

// ---------------------------------------------------------------------------
// Programs run inside a container: this test binary, bind-mounted in, in the
// role `HELPER_ENV` names. busybox cannot install a filter or catch SIGSYS.

/// Set in the container to make [`in_container_helper`] act: `loosen` or `sigsys`.
const HELPER_ENV: &str = "BERTH_E2E_SECCOMP_HELPER";

/// mkdir(path); returns "ok" or the errno's message.
fn try_mkdir(path: &str) -> String {
    let c = std::ffi::CString::new(path).expect("path");
    // SAFETY: mkdir(2) with a NUL-terminated path.
    if unsafe { libc::mkdir(c.as_ptr(), 0o755) } == 0 {
        "ok".to_string()
    } else {
        strerror(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// "ok" for a zero return, else the errno's message.
fn outcome(rc: i64) -> String {
    if rc == 0 {
        "ok".to_string()
    } else {
        strerror(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Not a test: the program the tests below run inside their containers. Without
/// the variable it does nothing.
#[test]
fn in_container_helper() {
    let Some(role) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    // After libtest's "test ... " on the same line.
    println!();
    match role.to_str() {
        Some("loosen") => loosen_filter(),
        Some("sigsys") => catch_sigsys(),
        #[cfg(target_arch = "x86_64")]
        Some("abi") => mkdir_through_every_abi(),
        other => println!("unknown role {other:?}"),
    }
    // Filters and signal handlers belong to the thread, and libtest runs this in
    // a thread of its own.
    let status = fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    for line in status.lines().filter(|l| l.starts_with("Seccomp")) {
        println!("{line}");
    }
    std::process::exit(0);
}

/// Tries to undo the container's filter by installing an allow-everything filter,
/// through seccomp(2) and through prctl(PR_SET_SECCOMP), retrying the denied
/// mkdir after each.
fn loosen_filter() {
    let mut allow_all = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: allow_all.as_mut_ptr(),
    };
    println!("before: {}", try_mkdir("/tmp/before"));
    // Without CAP_SYS_ADMIN a filter needs no_new_privs; setting it is allowed.
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    println!("nnp: {}", outcome(rc.into()));
    // SAFETY: seccomp(2) reads the one-instruction program, which is live.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    println!("seccomp: {}", outcome(rc));
    println!("after seccomp: {}", try_mkdir("/tmp/after-seccomp"));
    // SAFETY: as above, through prctl.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    println!("prctl: {}", outcome(rc.into()));
    println!("after prctl: {}", try_mkdir("/tmp/after-prctl"));
}

static SIGSYS_CODE: AtomicI32 = AtomicI32::new(-1);
static SIGSYS_SYSCALL: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // The `_sigsys` member of the siginfo union (asm-generic/siginfo.h): after
    // three ints, aligned for a pointer, comes `_call_addr`, then `_syscall`.
    let syscall_offset = (3 * std::mem::size_of::<libc::c_int>())
        .next_multiple_of(std::mem::align_of::<usize>())
        + std::mem::size_of::<usize>();
    // SAFETY: the kernel passes a valid siginfo_t for SIGSYS; the offset is the
    // `_syscall` field's. Atomic stores are async-signal-safe.
    unsafe {
        SIGSYS_CODE.store((*info).si_code, Ordering::SeqCst);
        let nr = std::ptr::read_unaligned(info.cast::<u8>().add(syscall_offset).cast::<i32>());
        SIGSYS_SYSCALL.store(nr, Ordering::SeqCst);
    }
}

/// Handles SIGSYS, then calls mkdir.
fn catch_sigsys() {
    // SAFETY: sigaction is plain data; zeroed is an empty mask and no flags.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_sigsys as *const () as usize;
    sa.sa_flags = libc::SA_SIGINFO;
    // SAFETY: installs a handler that only stores into atomics.
    let rc = unsafe { libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) };
    println!("handler: {}", outcome(rc.into()));
    try_mkdir("/tmp/trapped");
    println!(
        "caught: code={} syscall={}",
        SIGSYS_CODE.load(Ordering::SeqCst),
        SIGSYS_SYSCALL.load(Ordering::SeqCst)
    );
    println!("alive");
}

/// Runs `attempt` in a forked child; returns "ok", the errno's message, or
/// "killed by signal N".
fn in_child(attempt: impl FnOnce() -> i64) -> String {
    // SAFETY: the child only makes raw syscalls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let rc = attempt();
        let code = if rc >= 0 { 0 } else { (-rc).min(255) as i32 };
        // SAFETY: leaving the child without running the parent's code.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else if libc::WEXITSTATUS(status) == 0 {
        "ok".to_string()
    } else {
        strerror(libc::WEXITSTATUS(status))
    }
}

/// mkdir through the three x86-64 syscall ABIs: native `syscall`, i386
/// `int 0x80` (mkdir is 39 there) and x32 (the native number with bit 30 set).
/// A filter that only knows the native numbers is bypassed by the others.
#[cfg(target_arch = "x86_64")]
fn mkdir_through_every_abi() {
    const X32_SYSCALL_BIT: i64 = 0x4000_0000;
    const I386_MKDIR: i64 = 39;
    // The i386 ABI takes 32-bit pointers: the path must live below 4 GiB.
    // SAFETY: a fresh anonymous private mapping, checked below.
    let low = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    assert_ne!(low, libc::MAP_FAILED, "mmap below 4 GiB");
    let path = b"/tmp/abi-i386\0";
    // SAFETY: the mapping is 4096 writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(path.as_ptr(), low.cast::<u8>(), path.len()) };
    let raw = |nr: i64, path: &std::ffi::CStr| {
        // SAFETY: a raw mkdir with a NUL-terminated path; returns -errno.
        let rc = unsafe { libc::syscall(nr, path.as_ptr(), 0o755) };
        if rc < 0 {
            -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            rc
        }
    };
    println!(
        "native: {}",
        in_child(|| raw(libc::SYS_mkdir, c"/tmp/abi-native"))
    );
    println!(
        "x32: {}",
        in_child(|| raw(libc::SYS_mkdir | X32_SYSCALL_BIT, c"/tmp/abi-x32"))
    );
    println!(
        "i386: {}",
        in_child(|| {
            let ret: i64;
            // SAFETY: int 0x80 with the i386 mkdir number, a pointer below 4 GiB
            // to a NUL-terminated path, and a mode; rbx is restored, rax is the result.
            unsafe {
                // rbx is LLVM's: swap the path into it around the call.
                std::arch::asm!(
                    "xchg rbx, {path}",
                    "int 0x80",
                    "xchg rbx, {path}",
                    path = inout(reg) low as u64 => _,
                    inlateout("rax") I386_MKDIR => ret,
                    in("rcx") 0o755u64,
                    options(nostack)
                );
            }
            // The i386 ABI returns a 32-bit -errno.
            i64::from(ret as i32)
        })
    );
}

/// A bundle whose process is [`in_container_helper`] in `role`.
fn helper_bundle(role: &str) -> Bundle {
    let mut bundle = Bundle::new();
    let exe = std::env::current_exe().expect("current exe");
    bundle.bind(&exe, "/e2e-helper", &["ro"]);
    // The test binary is dynamically linked: give it the host's libraries (the
    // busybox rootfs has no /lib).
    for dir in ["/lib", "/lib64", "/usr/lib"] {
        if let Ok(real) = fs::canonicalize(dir) {
            bundle.bind(&real, dir, &["ro", "rbind"]);
        }
    }
    bundle
        .args(&[
            "/e2e-helper",
            "in_container_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .add_env(&format!("{HELPER_ENV}={role}"));
    bundle
}

/// Filters stack and the most restrictive verdict wins (seccomp(2), "multiple
/// filters"): a container process that installs an allow-everything filter of its
/// own is still denied what the container's filter denies.
#[test]
fn container_cannot_loosen_its_filter() {
    let rt = Runtime::new();
    let mut bundle = helper_bundle("loosen");
    set_seccomp(&mut bundle, allow_all_but(json!([deny_mkdir(libc::EXDEV)])));
    let out = run(&rt, "loosen", &bundle);
    out.ok();
    let xdev = strerror(libc::EXDEV);
    for line in [
        format!("before: {xdev}"),
        "nnp: ok".to_string(),
        "seccomp: ok".to_string(),
        format!("after seccomp: {xdev}"),
        "prctl: ok".to_string(),
        format!("after prctl: {xdev}"),
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "expected {line:?}\n{out}"
        );
    }
    let filters = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp_filters:"))
        .map(|v| v.trim().parse::<u32>().expect("count"));
    assert_eq!(
        filters,
        Some(3),
        "the container's filter and the two added: {out}"
    );
    for dir in ["before", "after-seccomp", "after-prctl"] {
        assert!(!bundle.rootfs().join("tmp").join(dir).exists(), "{dir}");
    }
}

/// The syscall number a process on this architecture reports for mkdir.
fn mkdir_nr() -> i64 {
    #[cfg(target_arch = "x86_64")]
    return libc::SYS_mkdir;
    #[cfg(not(target_arch = "x86_64"))]
    return libc::SYS_mkdirat;
}

/// SCMP_ACT_TRAP raises a SIGSYS the process can handle (si_code SYS_SECCOMP,
/// si_syscall the call) and survive; the syscall does not run. Under
/// SCMP_ACT_KILL_PROCESS the same handler does not save it.
#[test]
fn trap_is_catchable_kill_is_not() {
    const SYS_SECCOMP: i32 = 1;
    let rt = Runtime::new();
    let mut bundle = helper_bundle("sigsys");
    set_seccomp(
        &mut bundle,
        allow_all_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"}])),
    );
    let out = run(&rt, "trap-caught", &bundle);
    out.ok();
    for line in [
        "handler: ok".to_string(),
        format!("caught: code={SYS_SECCOMP} syscall={}", mkdir_nr()),
        "alive".to_string(),
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "expected {line:?}\n{out}"
        );
    }
    assert!(!bundle.rootfs().join("tmp/trapped").exists(), "mkdir ran");

    let mut bundle = helper_bundle("sigsys");
    set_seccomp(
        &mut bundle,
        allow_all_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}])),
    );
    let out = run(&rt, "kill-uncaught", &bundle);
    assert_eq!(out.code(), KILLED_BY_SIGSYS, "{out}");
    assert!(out.stdout.contains("handler: ok"), "{out}");
    assert!(!out.stdout.contains("alive"), "{out}");
    assert!(!bundle.rootfs().join("tmp/trapped").exists(), "mkdir ran");
}

/// `name: verdict` lines of the abi helper.
fn abi_verdicts(out: &Output) -> BTreeMap<String, String> {
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(abi, _)| ["native", "x32", "i386"].contains(abi))
        .map(|(abi, verdict)| (abi.to_string(), verdict.to_string()))
        .collect()
}

/// The 32-bit ABIs of x86-64 cannot get around the filter: mkdir denied by name
/// is denied through `int 0x80` and the x32 numbers when the profile lists those
/// architectures (as Docker's does), and a process using an ABI the profile does
/// not list is killed (libseccomp's default bad-architecture action, which runc
/// keeps).
#[cfg(target_arch = "x86_64")]
#[test]
fn other_abis_cannot_bypass_the_filter() {
    let rt = Runtime::new();

    // Control, no profile: the helper's i386 mkdir really makes a directory.
    let bundle = helper_bundle("abi");
    let out = run(&rt, "abi-control", &bundle);
    out.ok();
    let v = abi_verdicts(&out);
    assert_eq!(v.get("native").map(String::as_str), Some("ok"), "{out}");
    assert_eq!(v.get("i386").map(String::as_str), Some("ok"), "{out}");
    assert!(bundle.rootfs().join("tmp/abi-i386").is_dir(), "{out}");

    let xdev = strerror(libc::EXDEV);
    let sigsys = format!("killed by signal {}", libc::SIGSYS);
    for (arches, x32, i386) in [
        (
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            &xdev,
            &xdev,
        ),
        (json!(["SCMP_ARCH_X86_64"]), &sigsys, &sigsys),
    ] {
        let mut bundle = helper_bundle("abi");
        let mut profile = allow_all_but(json!([deny_mkdir(libc::EXDEV)]));
        profile["architectures"] = arches.clone();
        set_seccomp(&mut bundle, profile);
        let out = run(&rt, "abi", &bundle);
        out.ok();
        let v = abi_verdicts(&out);
        assert_eq!(v.get("native"), Some(&xdev), "{arches}\n{out}");
        assert_eq!(v.get("x32"), Some(x32), "{arches}\n{out}");
        assert_eq!(v.get("i386"), Some(i386), "{arches}\n{out}");
        for abi in ["native", "x32", "i386"] {
            assert!(
                !bundle.rootfs().join(format!("tmp/abi-{abi}")).exists(),
                "{abi} mkdir ran with architectures {arches}\n{out}"
            );
        }
    }
}
