//! `process.capabilities`, checked from inside real containers: the five sets as
//! the process sees them in /proc/self/status, for root and for uid 1000 with
//! ambient capabilities, operations that need a capability the container was not
//! given, attempts to get one back, and unknown names.
//!
//! What the container process sees is what the runtime set *after* the kernel's
//! execve transformation (capabilities(7), "Transformation of capabilities during
//! execve()"): for root the permitted and effective sets become bounding |
//! inheritable (intersected with the old permitted set under no_new_privs), for
//! other users they become the ambient set. [`after_execve`] computes that, so
//! each test states the configured sets and checks the kernel's result, the same
//! under berth and runc.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};

use berth_e2e::{is_berth, unique_id, Bundle, Runtime};
use serde_json::json;

/// Capability numbers (linux/capability.h).
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit mask of `names`.
fn mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, name| {
        let bit = CAPS
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("unknown capability {name}"));
        m | 1 << bit
    })
}

/// The names in `mask`, for messages.
fn names(mask: u64) -> Vec<&'static str> {
    CAPS.iter()
        .enumerate()
        .filter(|(bit, _)| mask & 1 << bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The five sets, as masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sets {
    bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    ambient: u64,
}

impl Sets {
    fn new(bnd: &[&str], eff: &[&str], prm: &[&str], inh: &[&str], amb: &[&str]) -> Self {
        Sets {
            bounding: mask(bnd),
            effective: mask(eff),
            permitted: mask(prm),
            inheritable: mask(inh),
            ambient: mask(amb),
        }
    }

    /// `process.capabilities` for these sets.
    fn config(&self) -> serde_json::Value {
        json!({
            "bounding": names(self.bounding),
            "effective": names(self.effective),
            "permitted": names(self.permitted),
            "inheritable": names(self.inheritable),
            "ambient": names(self.ambient),
        })
    }

    /// The `Cap*:` lines of /proc/<pid>/status.
    fn parse(status: &str) -> Self {
        let field = |key: &str| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in\n{status}"))
                .trim();
            u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{key} {hex}: {e}"))
        };
        Sets {
            bounding: field("CapBnd:"),
            effective: field("CapEff:"),
            permitted: field("CapPrm:"),
            inheritable: field("CapInh:"),
            ambient: field("CapAmb:"),
        }
    }

    /// The sets a process holding `self` has after executing a file without
    /// file capabilities or set-id bits (security/commoncap.c,
    /// cap_bprm_creds_from_file).
    fn after_execve(&self, root: bool, no_new_privs: bool) -> Self {
        let permitted = if root {
            // handle_privileged_root: pP' = bounding | inheritable, and with
            // no_new_privs "they get no more than they had".
            let gained = self.bounding | self.inheritable;
            if no_new_privs {
                gained & self.permitted
            } else {
                gained
            }
        } else {
            0
        } | self.ambient;
        Sets {
            bounding: self.bounding,
            // Root's files count as having the effective bit; other users get
            // the ambient set.
            effective: if root { permitted } else { self.ambient },
            permitted,
            inheritable: self.inheritable,
            ambient: self.ambient,
        }
    }
}

impl std::fmt::Display for Sets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (key, set) in [
            ("bounding", self.bounding),
            ("effective", self.effective),
            ("permitted", self.permitted),
            ("inheritable", self.inheritable),
            ("ambient", self.ambient),
        ] {
            writeln!(f, "  {key:11} {set:016x} {:?}", names(set))?;
        }
        Ok(())
    }
}

/// Runs `script` in a container with `caps` as uid `uid`; asserts exit 0 and
/// returns stdout.
fn run_with(caps: &Sets, uid: u32, no_new_privs: bool, script: &str) -> String {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .sh(script)
        .user(uid, uid, &[])
        .set("/process/capabilities", caps.config())
        .set("/process/noNewPrivileges", json!(no_new_privs));
    let out = rt.run(&unique_id("caps"), &bundle);
    out.ok();
    out.stdout.clone()
}

/// Asserts that a container configured with `configured` sees `expected`.
#[track_caller]
fn assert_sets(configured: &Sets, uid: u32, no_new_privs: bool, expected: &Sets) {
    let out = run_with(configured, uid, no_new_privs, "grep ^Cap /proc/self/status");
    let seen = Sets::parse(&out);
    assert_eq!(
        seen, *expected,
        "uid {uid}, noNewPrivileges {no_new_privs}\nconfigured:\n{configured}expected:\n{expected}seen:\n{seen}"
    );
}

/// Root with five different sets that execve leaves alone (permitted within
/// bounding, effective equal to permitted, ambient within permitted and
/// inheritable, no_new_privs): the process sees exactly the configuration.
#[test]
fn root_sees_exactly_the_configured_sets() {
    let configured = Sets::new(
        &[
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT",
            "CAP_MKNOD",
            "CAP_AUDIT_WRITE",
        ],
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
        ],
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
        ],
        &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL"],
    );
    assert_eq!(configured.after_execve(true, true), configured);
    assert_sets(&configured, 0, true, &configured);

    // Without no_new_privs root's permitted set is bounding | inheritable; the
    // same five sets are stable when permitted and effective are the bounding set.
    let all = names(configured.bounding);
    let configured = Sets::new(
        &all,
        &all,
        &all,
        &["CAP_KILL", "CAP_SYS_CHROOT"],
        &["CAP_SYS_CHROOT"],
    );
    assert_eq!(configured.after_execve(true, false), configured);
    assert_sets(&configured, 0, false, &configured);
}

/// Root whose permitted and effective sets are smaller than the bounding set:
/// execve gives it the bounding set back unless no_new_privs holds it to what it
/// had (the kernel's rule, which the runtime cannot change; runc behaves alike).
#[test]
fn root_permitted_set_through_execve() {
    let configured = Sets::new(
        &["CAP_CHOWN", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL"],
        &["CAP_KILL", "CAP_CHOWN"],
        &["CAP_CHOWN"],
        &[],
    );
    for no_new_privs in [true, false] {
        let expected = configured.after_execve(true, no_new_privs);
        assert_sets(&configured, 0, no_new_privs, &expected);
    }
    // Spelled out: with no_new_privs the permitted set stays as configured and
    // the effective set follows it.
    assert_eq!(
        names(configured.after_execve(true, true).effective),
        ["CAP_CHOWN", "CAP_KILL"]
    );
    // Without, root regains everything in the bounding set.
    assert_eq!(
        configured.after_execve(true, false).permitted,
        configured.bounding
    );
}

/// An inheritable set with capabilities outside the permitted set (but inside
/// the bounding set) is valid: capset(2) allows any inheritable set within
/// bounding | the permitted set held *before* the call, and the runtime still
/// holds every capability when it sets the sets (runc makes one capset call for
/// effective, permitted and inheritable).
#[test]
fn inheritable_beyond_permitted() {
    let template = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut bounding = template.to_vec();
    bounding.push("CAP_SYS_CHROOT");
    let configured = Sets::new(
        &bounding,
        &template,
        &template,
        &["CAP_SYS_CHROOT", "CAP_KILL"],
        &[],
    );
    for (uid, no_new_privs) in [(0, true), (1000, true), (0, false)] {
        let expected = configured.after_execve(uid == 0, no_new_privs);
        assert_eq!(expected.inheritable, configured.inheritable);
        assert_sets(&configured, uid, no_new_privs, &expected);
    }
}

/// uid 1000 keeps exactly its ambient capabilities across execve (they must be
/// inheritable and permitted too); its bounding and inheritable sets are as
/// configured. The ambient CAP_CHOWN works; without ambient capabilities the
/// same user has none.
#[test]
fn non_root_with_ambient_capabilities() {
    let configured = Sets::new(
        &[
            "CAP_CHOWN",
            "CAP_FOWNER",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
        ],
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
        ],
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_SETUID",
            "CAP_NET_BIND_SERVICE",
        ],
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
    );
    for no_new_privs in [true, false] {
        let expected = configured.after_execve(false, no_new_privs);
        assert_eq!(
            names(expected.effective),
            ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
        );
        assert_sets(&configured, 1000, no_new_privs, &expected);

        let out = run_with(
            &configured,
            1000,
            no_new_privs,
            "touch /tmp/mine && chown 5:1000 /tmp/mine && stat -c %u /tmp/mine",
        );
        assert_eq!(out, "5\n", "ambient CAP_CHOWN");
    }

    let mut no_ambient = configured;
    no_ambient.ambient = 0;
    let expected = no_ambient.after_execve(false, true);
    assert_eq!(expected.effective | expected.permitted, 0);
    assert_sets(&no_ambient, 1000, true, &expected);
}

/// The sets of the template's capabilities, plus `extra`.
fn template_plus(extra: &[&str]) -> Sets {
    let mut caps = vec!["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    caps.extend_from_slice(extra);
    Sets::new(&caps, &caps, &caps, &[], &[])
}

/// `NAME -> verdict line` for lines `NAME: ok` / `NAME: <error>`.
fn verdicts(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Operations that each need one capability, tried by root in the container.
/// The uts namespace is the container's own (the template has one), so only the
/// capability stands between the process and sethostname. `regain-userns` maps
/// root into a new user namespace, which needs CAP_SETFCAP since Linux 5.12 (see
/// [`user_namespace_does_not_give_back_a_dropped_capability`] for the rest).
const NEEDS_A_CAPABILITY: &str = "\
    t() { n=$1; shift; if e=$(\"$@\" 2>&1); then echo \"$n: ok\"; else echo \"$n:\" $e; fi; }; \
    t chown chown 5:5 /tmp/mine ; \
    t mknod mknod /tmp/null c 1 3 ; \
    t hostname hostname berth-e2e ; \
    t read-others cat /tmp/secret ; \
    t chmod-others chmod 644 /tmp/secret ; \
    t chroot chroot / true ; \
    t regain-setpriv setpriv --inh-caps +sys_admin --ambient-caps +sys_admin hostname x ; \
    t regain-userns unshare -U -r hostname x ; \
    true";

/// A bundle with the files the operations above work on: `/tmp/mine` owned by
/// root, `/tmp/secret` owned by uid 5 and readable by it alone.
fn bundle_with_files() -> Bundle {
    let bundle = Bundle::new();
    let tmp = bundle.rootfs().join("tmp");
    fs::write(tmp.join("mine"), "").expect("write mine");
    let secret = tmp.join("secret");
    fs::write(&secret, "secret\n").expect("write secret");
    chown(&secret, Some(5), Some(5)).expect("chown secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod secret");
    bundle
}

fn run_operations(caps: &Sets) -> BTreeMap<String, String> {
    let rt = Runtime::new();
    let mut bundle = bundle_with_files();
    bundle
        .sh(NEEDS_A_CAPABILITY)
        .set("/process/capabilities", caps.config());
    let out = rt.run(&unique_id("caps-ops"), &bundle);
    out.ok();
    verdicts(&out.stdout)
}

/// Each operation fails without its capability (CAP_CHOWN, CAP_MKNOD,
/// CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SYS_CHROOT) and succeeds with
/// it, so the capability is what decides. A dropped capability cannot be
/// regained by raising it into the inheritable and ambient sets (it is not in the
/// bounding set), nor by becoming root in a new user namespace.
#[test]
fn dropped_capabilities_are_missing() {
    let eperm = "Operation not permitted";
    let without = run_operations(&template_plus(&[]));
    for (op, needle) in [
        ("chown", eperm),
        ("mknod", eperm),
        ("hostname", eperm),
        ("read-others", "Permission denied"),
        ("chmod-others", eperm),
        ("chroot", eperm),
        ("regain-setpriv", eperm),
        ("regain-userns", eperm),
    ] {
        let verdict = without.get(op).map(String::as_str).unwrap_or("missing");
        assert!(
            verdict != "ok" && verdict.contains(needle),
            "{op} without its capability: {verdict:?}\n{without:#?}"
        );
    }

    let with = run_operations(&template_plus(&[
        "CAP_CHOWN",
        "CAP_MKNOD",
        "CAP_SYS_ADMIN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_SYS_CHROOT",
        "CAP_SETPCAP",
    ]));
    for op in [
        "chown",
        "mknod",
        "hostname",
        "read-others",
        "chmod-others",
        "chroot",
        "regain-setpriv",
    ] {
        assert_eq!(
            with.get(op).map(String::as_str),
            Some("ok"),
            "{op} with its capability\n{with:#?}"
        );
    }
}

/// An unknown capability name is an error naming it: `create` fails and leaves
/// nothing behind. runc 1.1.5 only warns ("ignoring unknown or unavailable
/// capabilities") and creates the container; berth refuses.
#[test]
fn unknown_capability_name() {
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let rt = Runtime::new();
        let id = unique_id("caps-unknown");
        let mut bundle = Bundle::new();
        let mut valid = template_plus(&[]);
        valid.inheritable = mask(&["CAP_KILL"]);
        valid.ambient = mask(&["CAP_KILL"]);
        let mut caps = valid.config();
        if let Some(list) = caps[set].as_array_mut() {
            list.push(json!("CAP_BERTH_E2E_BOGUS"));
        }
        bundle.set("/process/capabilities", caps);
        let before = rt.leaks(&id, &bundle);
        let out = rt.create(&id, &bundle);
        out.stderr_mentions(&["CAP_BERTH_E2E_BOGUS"]);
        if is_berth() {
            out.fails()
                .stderr_mentions(&[&format!("process.capabilities.{set}")]);
            assert_eq!(out.code(), 1, "{out}");
            rt.exec(&["state", &id]).fails();
            rt.assert_nothing_left(&id, &bundle, &before);
        } else {
            out.ok();
            rt.delete_force(&id).ok();
        }
    }
}

/// A process without CAP_SYS_ADMIN that becomes root of a new user namespace has
/// every capability there, but only over what that namespace owns: the
/// container's uts namespace belongs to the initial user namespace, so
/// sethostname still fails. (CAP_SETFCAP lets it map root, Linux 5.12+.) In a
/// uts namespace of its own the same sethostname works, so the capabilities were
/// real.
#[test]
fn user_namespace_does_not_give_back_a_dropped_capability() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .sh("unshare -U -r sh -c 'grep ^CapEff: /proc/self/status; \
               hostname escaped 2>&1; echo container-uts=$?'; \
             unshare -U -r -u sh -c 'hostname own 2>&1; echo own-uts=$?'; \
             hostname")
        .set(
            "/process/capabilities",
            template_plus(&["CAP_SETFCAP"]).config(),
        );
    let out = rt.run(&unique_id("caps-userns"), &bundle);
    out.ok();
    let effective = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff\n{out}"));
    assert!(
        effective & mask(&["CAP_SYS_ADMIN"]) != 0,
        "root of the new user namespace holds CAP_SYS_ADMIN there\n{out}"
    );
    assert!(
        out.stdout
            .contains("hostname: sethostname: Operation not permitted\ncontainer-uts=1\n"),
        "{out}"
    );
    assert!(out.stdout.contains("own-uts=0\n"), "{out}");
    assert!(!out.stdout.contains("escaped"), "{out}");
}
