//! Failed creates leave nothing behind: "generating an error MUST leave the state of
//! the environment as if the operation were never attempted" (runtime-spec
//! `runtime.md`, Errors). Each case checks the state dir, cgroups named after the id,
//! mounts mentioning the bundle or state root, and processes.

use std::fs;

use berth_e2e::{unique_id, Bundle, Runtime};

/// Creates (or runs, with `verb = "run"`) a container from a bundle edited by `edit`;
/// asserts it fails mentioning one of `needles` and leaves nothing behind.
fn fails_cleanly(verb: &str, needles: &[&str], edit: impl FnOnce(&mut Bundle, &str)) {
    let rt = Runtime::new();
    let id = unique_id("failure");
    let mut bundle = Bundle::new();
    edit(&mut bundle, &id);
    let before = rt.leaks(&id, &bundle);
    let out = rt.with_bundle(verb, &id, &bundle, &[]).output();
    out.fails().stderr_mentions(needles);
    rt.exec(&["state", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    let list = rt.list(&["-q"]);
    assert!(!list.stdout.contains(&id), "{list}");
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn missing_executable() {
    fails_cleanly("create", &["executable file not found"], |b, _| {
        b.args(&["no-such-program"]);
    });
}

#[test]
fn missing_executable_with_run() {
    fails_cleanly("run", &["executable file not found"], |b, _| {
        b.args(&["no-such-program"]);
    });
}

#[test]
fn failing_create_runtime_hook() {
    fails_cleanly("create", &["hook #0"], |b, _| {
        b.sh_hook("createRuntime", "exit 1");
    });
}

#[test]
fn failing_create_container_hook_with_explicit_cgroups_path() {
    fails_cleanly("create", &["hook #0"], |b, id| {
        // Named after the id, so the leak check finds it.
        b.cgroups_path(&format!("/{id}-explicit"))
            .sh_hook("createContainer", "exit 1");
    });
}

#[test]
fn bad_mount_option() {
    fails_cleanly("create", &["bogus-flag"], |b, _| {
        b.mount("/scratch", "tmpfs", "tmpfs", &["bogus-flag"]);
    });
}

#[test]
fn missing_bind_source() {
    fails_cleanly("create", &["no such file or directory"], |b, _| {
        b.mount("/mnt", "bind", "/nonexistent/berth-e2e-source", &["bind"]);
    });
}

#[test]
fn missing_rootfs() {
    fails_cleanly("create", &["no such file or directory"], |b, _| {
        fs::remove_dir_all(b.rootfs()).expect("remove rootfs");
    });
}

#[test]
fn unknown_sysctl() {
    // runc names the /proc/sys path, berth may name the key.
    fails_cleanly("create", &["berth_e2e_nonexistent"], |b, _| {
        b.sysctl("net.ipv4.berth_e2e_nonexistent", "1");
    });
}

#[test]
fn rlimit_above_the_host_hard_limit() {
    // The host's hard RLIMIT_NOFILE is the ceiling without CAP_SYS_RESOURCE (missing
    // from the test VM's bounding set); skip where the capability is present.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    if bounding & (1 << 24) != 0 {
        eprintln!("skipped: CAP_SYS_RESOURCE is available, any rlimit can be raised");
        return;
    }
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    assert_eq!(rc, 0);
    let above = hard.rlim_max + 1000;
    fails_cleanly("create", &["operation not permitted", "rlimit"], |b, _| {
        b.rlimit("RLIMIT_NOFILE", above, above);
    });
}

#[test]
fn invalid_config_json() {
    let rt = Runtime::new();
    let id = unique_id("bad-json");
    let bundle = Bundle::new();
    let before = rt.leaks(&id, &bundle);
    let path = bundle.path().display().to_string();
    rt.track(&id, &bundle);
    fs::write(bundle.path().join("config.json"), "{ not json").expect("write");
    // Not via `with_bundle`, which would save a valid config.
    rt.exec(&["create", "--bundle", &path, &id]).fails();
    rt.exec(&["state", &id]).fails();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn missing_config_json() {
    let rt = Runtime::new();
    let id = unique_id("no-config");
    let bundle = Bundle::new();
    let before = rt.leaks(&id, &bundle);
    let path = bundle.path().display().to_string();
    rt.track(&id, &bundle);
    rt.exec(&["create", "--bundle", &path, &id])
        .fails()
        .stderr_mentions(&["config.json"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}
