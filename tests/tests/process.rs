//! `process` in config.json, checked from inside the container.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};

use berth_e2e::{extra_fds, unique_id, Bundle, Runtime};

/// Runs `script` in a fresh container built by `edit`, asserting exit 0; returns stdout.
fn run_sh(edit: impl FnOnce(&mut Bundle), script: &str) -> String {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.sh(script);
    edit(&mut bundle);
    let out = rt.run(&unique_id("process"), &bundle);
    out.ok();
    out.stdout.clone()
}

/// The value of a `Key:\tvalue` line of /proc/self/status-like output.
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn env_is_exactly_the_config() {
    let out = run_sh(
        |b| {
            b.env(&["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY="]);
        },
        "echo \"FOO=[$FOO]\"; echo \"EMPTY=[${EMPTY-unset}]\"; env",
    );
    assert!(out.contains("FOO=[bar baz]"), "{out}");
    assert!(out.contains("EMPTY=[]"), "{out}");
    assert!(out.lines().any(|l| l == "PATH=/bin:/usr/bin"), "{out}");
    // runc adds HOME from the container's /etc/passwd when the config has none
    // (`runc:libcontainer/init_linux.go`); callers such as containerd rely on it.
    assert!(out.lines().any(|l| l == "HOME=/root"), "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("TERM=")),
        "template TERM replaced: {out}"
    );
}

#[test]
fn cwd_existing_and_missing() {
    let out = run_sh(
        |b| {
            b.cwd("/tmp");
        },
        "pwd",
    );
    assert_eq!(out, "/tmp\n");

    // runc creates a missing cwd inside the rootfs (`runc:libcontainer/rootfs_linux.go`).
    let out = run_sh(
        |b| {
            b.cwd("/does/not/exist");
        },
        "pwd; [ -d /does/not/exist ] && echo isdir",
    );
    assert_eq!(out, "/does/not/exist\nisdir\n");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let out = run_sh(
        |b| {
            b.user(1000, 1001, &[10, 20]);
        },
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -u; id -g",
    );
    assert_eq!(
        field(&out, "Uid:").split_whitespace().collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(
        field(&out, "Gid:").split_whitespace().collect::<Vec<_>>(),
        ["1001"; 4]
    );
    assert_eq!(
        field(&out, "Groups:")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["10", "20"]
    );
    assert!(out.ends_with("1000\n1001\n"), "{out}");
}

#[test]
fn user_without_additional_gids_has_no_groups() {
    let out = run_sh(
        |b| {
            b.user(1000, 1000, &[]);
        },
        "grep '^Groups:' /proc/self/status",
    );
    assert_eq!(
        field(&out, "Groups:"),
        "",
        "supplementary groups leaked in: {out}"
    );
}

#[test]
fn umask_from_process_user() {
    let out = run_sh(
        |b| {
            b.umask(0o027);
        },
        "umask; touch /tmp/f; mkdir /tmp/d; stat -c '%a' /tmp/f /tmp/d",
    );
    assert_eq!(out, "0027\n640\n750\n");

    // Without process.user.umask runc uses 0022.
    let out = run_sh(|_| {}, "umask");
    assert_eq!(out, "0022\n");
}

#[test]
fn rlimits_soft_and_hard() {
    // Values stay under the host hard limit (20000): without CAP_SYS_RESOURCE in the
    // host namespace nothing may raise it.
    let out = run_sh(
        |b| {
            b.rlimit("RLIMIT_NOFILE", 1234, 5678)
                .rlimit("RLIMIT_NPROC", 777, 888);
        },
        "ulimit -Sn; ulimit -Hn; grep -E 'Max (open files|processes)' /proc/self/limits",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1234"), "{out}");
    assert_eq!(lines.next(), Some("5678"), "{out}");
    let files: Vec<&str> = field(&out, "Max open files").split_whitespace().collect();
    assert_eq!(files[..2], ["1234", "5678"], "{out}");
    let procs: Vec<&str> = field(&out, "Max processes").split_whitespace().collect();
    assert_eq!(procs[..2], ["777", "888"], "{out}");
}

#[test]
fn args0_resolved_via_path() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    let tools = bundle.rootfs().join("opt/tools");
    fs::create_dir_all(&tools).expect("mkdir opt/tools");
    fs::write(
        tools.join("hello-tool"),
        "#!/bin/sh\necho \"hello from $0\"\n",
    )
    .expect("write");
    chmod(&tools.join("hello-tool"), 0o755);
    bundle
        .env(&["PATH=/nonexistent:/opt/tools:/bin"])
        .args(&["hello-tool"]);
    let out = rt.run(&unique_id("path-lookup"), &bundle);
    out.ok();
    assert_eq!(out.stdout, "hello from /opt/tools/hello-tool\n");

    bundle.env(&["PATH=/bin"]).args(&["echo", "plain", "args"]);
    let out = rt.run(&unique_id("path-echo"), &bundle);
    out.ok();
    assert_eq!(out.stdout, "plain args\n");
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// runc resolves args[0] during `create` (Docker maps the message to exit 127).
#[test]
fn missing_executable_fails_at_create() {
    for (args0, messages) in [
        (
            "no-such-binary",
            &["executable file not found in $PATH"][..],
        ),
        ("/bin/no-such-binary", &["no such file or directory"][..]),
    ] {
        let rt = Runtime::new();
        let id = unique_id("missing-exe");
        let mut bundle = Bundle::new();
        bundle.args(&[args0]);
        let before = rt.leaks(&id, &bundle);
        let out = rt.create(&id, &bundle);
        out.fails().stderr_mentions(messages);
        rt.exec(&["state", &id]).fails();
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}

#[test]
fn non_executable_args0_fails_at_create() {
    let rt = Runtime::new();
    let id = unique_id("not-exec");
    let mut bundle = Bundle::new();
    fs::write(bundle.rootfs().join("bin/plain-file"), "not a program").expect("write");
    chmod(&bundle.rootfs().join("bin/plain-file"), 0o644);
    bundle.args(&["/bin/plain-file"]);
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["permission denied"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn preserve_fds_passes_fd3_and_closes_the_rest() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("fd3");
    fs::write(&shared, "from-host\n").expect("write");
    let stray = dir.path().join("fd4");
    fs::write(&stray, "").expect("write");
    let open = |path: &std::path::Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open")
    };

    // `exec ls -l` lists the fds the container process itself holds: a pipeline
    // would race with the shell closing its pipe ends.
    let mut bundle = Bundle::new();
    bundle.sh("cat <&3; echo from-container >&3; exec ls -l /proc/self/fd/");
    let out = rt
        .with_bundle(
            "run",
            &unique_id("preserve-fds"),
            &bundle,
            &["--preserve-fds", "1"],
        )
        .fd(3, open(&shared))
        .fd(4, open(&stray))
        .output();
    out.ok();
    assert!(out.stdout.starts_with("from-host\n"), "{out}");
    let extra = extra_fds(&out.stdout);
    assert_eq!(extra.len(), 1, "only fd 3 may be passed: {extra:?}\n{out}");
    assert!(extra[0].0 == 3 && extra[0].1.ends_with("/fd3"), "{extra:?}");
    let mut written = String::new();
    open(&shared)
        .read_to_string(&mut written)
        .expect("read back");
    assert_eq!(written, "from-host\nfrom-container\n");

    // Without --preserve-fds nothing beyond stdio reaches the container.
    let mut bundle = Bundle::new();
    bundle.args(&["ls", "-l", "/proc/self/fd/"]);
    let mut fd3 = open(&shared);
    fd3.seek(SeekFrom::End(0)).expect("seek");
    let out = rt
        .with_bundle("run", &unique_id("no-preserve"), &bundle, &[])
        .fd(3, fd3)
        .fd(4, open(&stray))
        .output();
    out.ok();
    let extra = extra_fds(&out.stdout);
    assert!(
        extra.is_empty(),
        "fds leaked into the container: {extra:?}\n{out}"
    );
}

#[test]
fn container_process_is_pid_1() {
    // The user program is init itself, not a child of some runtime helper.
    let out = run_sh(
        |_| {},
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $PPID",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    assert!(lines[1].starts_with("sh -c echo $$"), "{out}");
    // Its parent is outside the pid namespace.
    assert_eq!(lines[2], "0", "{out}");
}

#[test]
fn capabilities_and_no_new_privileges() {
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let caps = serde_json::json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
    let out = run_sh(
        |b| {
            b.set(
                "/process/capabilities",
                serde_json::json!({
                    "bounding": caps, "effective": caps, "permitted": caps,
                }),
            )
            .set("/process/noNewPrivileges", serde_json::json!(true));
        },
        "grep -E '^(Cap(Eff|Prm|Bnd|Inh|Amb)|NoNewPrivs):' /proc/self/status",
    );
    for key in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(field(&out, key), "0000000020000420", "{key}\n{out}");
    }
    assert_eq!(field(&out, "CapInh:"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "CapAmb:"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "NoNewPrivs:"), "1", "{out}");
}

#[test]
fn stdin_is_passed_through() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("stdin");
    fs::write(&input, "line one\nline two\n").expect("write");
    let mut bundle = Bundle::new();
    bundle.args(&["wc", "-l"]);
    let out = rt
        .with_bundle("run", &unique_id("stdin"), &bundle, &[])
        .stdin(fs::File::open(&input).expect("open"))
        .output();
    out.ok();
    assert_eq!(out.stdout.trim(), "2");
}

#[test]
fn signals_ignored_by_the_caller_are_not_ignored_in_the_container() {
    // An ignored signal stays ignored across execve: a runtime started with
    // SIGHUP and SIGUSR1 ignored (nohup, some supervisors) and its own
    // ignored SIGPIPE must not pass them on, to init or to exec'd processes.
    let rt = Runtime::wrapped("trap '' HUP USR1 PIPE\nexec");
    let mut bundle = Bundle::new();
    bundle.args(&["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
    // Bits n-1 of signals n: those the wrapper ignores (HUP, USR1, PIPE)
    // must be clear for any runtime. berth clears every one, also 32 and 33,
    // which glibc's posix_spawn ignores in each child it makes (runc leaves
    // them as the caller had them).
    let check = |out: &berth_e2e::Output| {
        let ign = u64::from_str_radix(field(&out.stdout, "SigIgn:"), 16).expect("hex");
        if berth_e2e::is_berth() {
            assert_eq!(ign, 0, "{out}");
        } else {
            assert_eq!(ign & 0x1201, 0, "{out}");
        }
        assert_eq!(field(&out.stdout, "SigBlk:"), "0000000000000000", "{out}");
    };
    let out = rt.run(&unique_id("sigign"), &bundle);
    out.ok();
    check(&out);

    let id = unique_id("sigign-exec");
    let mut idle = Bundle::new();
    idle.sh(berth_e2e::IDLE);
    rt.run_detached(&id, &idle).ok();
    rt.wait_status(&id, "running");
    let out = rt.exec(&[
        "exec",
        &id,
        "grep",
        "-E",
        "^Sig(Ign|Blk)",
        "/proc/self/status",
    ]);
    out.ok();
    check(&out);
    rt.delete_force(&id).ok();
}
