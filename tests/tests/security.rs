//! Each defence against a known runtime attack, tested by attempting the attack,
//! and berth compared with runc on one confined bundle (docs/security.md lists
//! them all). (Leaked fds, CVE-2024-21626, are in exec.rs too; mount-target
//! symlinks, CVE-2021-30465, in mounts.rs.)

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use berth_e2e::{unique_id, Bundle, Runtime};

fn is_berth(rt: &Runtime) -> bool {
    rt.bin().file_name().is_some_and(|n| n == "berth")
}

/// CVE-2019-5736: until the execve, init runs the runtime's own code, so
/// `/proc/<init>/exe` is the host's runtime binary. A process without
/// CAP_SYS_PTRACE (like a container process) must not be able to open it,
/// or it could reopen it for writing once the runtime exits and replace the
/// host binary.
#[test]
fn runtime_binary_unreachable_through_proc_exe() {
    let rt = Runtime::new();
    let id = unique_id("cve-2019-5736");
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    rt.create(&id, &bundle).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let exe = format!("/proc/{pid}/exe");
    // Sanity: the created init really is the runtime binary right now.
    let target = fs::read_link(&exe).expect("readlink as root");
    if is_berth(&rt) {
        assert_eq!(
            target.file_name(),
            rt.bin().file_name(),
            "init should still be runtime code before start"
        );
    }
    if !is_berth(&rt) {
        // runc's defence is different: its init runs from a sealed memfd
        // copy of the binary, so reading /proc/<pid>/exe succeeds but cannot
        // reach the host file.
        rt.delete_force(&id).ok();
        return;
    }
    // The attacker: another process of the container: uid 0 with exactly the
    // container's capabilities (the template's AUDIT_WRITE, KILL,
    // NET_BIND_SERVICE), so only the dumpable flag stands in the way.
    let attempt = Command::new("setpriv")
        .args([
            "--bounding-set=-all,+audit_write,+kill,+net_bind_service",
            "--inh-caps=-all",
            "--",
            "head",
            "-c",
            "4",
            &exe,
        ])
        .output()
        .expect("run setpriv");
    assert!(
        !attempt.status.success(),
        "a process with the container's privileges read the runtime binary through {exe}: {:?}",
        String::from_utf8_lossy(&attempt.stdout)
    );
    assert!(
        String::from_utf8_lossy(&attempt.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&attempt.stderr)
    );
    rt.delete_force(&id).ok();
}

/// CVE-2025-31133: masked files are covered by bind-mounting /dev/null. If
/// /dev/null in the container is not the null device (a bind-mounted /dev
/// from a volume holding a symlink or a regular file), masking would instead
/// expose or redirect a write target. The runtime must refuse.
#[test]
fn fake_dev_null_is_refused_for_masking() {
    let rt = Runtime::new();
    let id = unique_id("cve-2025-31133");
    let dev = tempfile::tempdir().expect("tempdir");
    let victim = dev.path().join("victim");
    fs::write(&victim, "host data\n").expect("write victim");
    symlink(&victim, dev.path().join("null")).expect("symlink null");
    let mut bundle = Bundle::new();
    bundle
        .remove_mount("/dev")
        .bind(dev.path(), "/dev", &["rbind"])
        .masked_path("/proc/kcore")
        .args(&["cat", "/proc/kcore"]);
    let before = rt.leaks(&id, &bundle);
    let out = rt.run(&id, &bundle);
    if is_berth(&rt) {
        out.fails()
            .stderr_mentions(&["/dev/null", "not the null device"]);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
    assert_eq!(
        fs::read_to_string(&victim).expect("read victim"),
        "host data\n"
    );
    rt.delete_force(&id);
}

/// CVE-2024-21626 through `process.cwd`: an image's WorkingDir of
/// `/proc/self/fd/N`, where N is a directory fd the runtime's caller leaked,
/// would start the container on the host's filesystem. Every fd is closed
/// before the cwd is resolved and the cwd is checked to be inside the root.
#[test]
fn leaked_fd_as_cwd_cannot_reach_the_host() {
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("tempdir");
    let marker = host.path().join("host-marker");
    fs::write(&marker, "").expect("write marker");
    for n in [4, 5, 8] {
        let id = unique_id("cve-2024-21626");
        let mut bundle = Bundle::new();
        bundle.cwd(&format!("/proc/self/fd/{n}")).sh(&format!(
            "cd ../../../../../../../..; test -e .{} && echo ESCAPED; pwd -P",
            marker.display()
        ));
        let before = rt.leaks(&id, &bundle);
        let dir = || fs::File::open(host.path()).expect("open host dir");
        let out = rt
            .with_bundle("run", &id, &bundle, &[])
            .fd(4, dir())
            .fd(5, dir())
            .fd(8, dir())
            .output();
        assert!(
            !out.stdout.contains("ESCAPED"),
            "cwd /proc/self/fd/{n}\n{out}"
        );
        if is_berth(&rt) {
            out.fails();
        }
        rt.delete_force(&id);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}

/// Whether AppArmor or SELinux is active, as libberth::lsm decides it:
/// there the labels are applied instead of refused.
fn lsm_active() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.starts_with('Y'))
        || std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// AppArmor and SELinux labels where the LSM is not active: a clear error
/// naming the field, never a container silently running unconfined.
#[test]
fn lsm_labels_without_the_lsm_fail_clearly() {
    if !is_berth(&Runtime::new()) || lsm_active() {
        return;
    }
    let rt = Runtime::new();
    for (pointer, value, needle) in [
        (
            "/process/apparmorProfile",
            "docker-default",
            "process.apparmorProfile",
        ),
        (
            "/process/selinuxLabel",
            "system_u:system_r:container_t:s0",
            "process.selinuxLabel",
        ),
        (
            "/linux/mountLabel",
            "system_u:object_r:container_file_t:s0",
            "linux.mountLabel",
        ),
    ] {
        let id = unique_id("lsm");
        let mut bundle = Bundle::new();
        bundle.args(&["true"]);
        bundle.set(pointer, serde_json::Value::from(value));
        let before = rt.leaks(&id, &bundle);
        rt.create(&id, &bundle)
            .fails()
            .stderr_mentions(&[needle, "not enabled on this host"]);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}

/// The same for the labels of an exec: `--apparmor`, `--process-label`.
#[test]
fn exec_labels_without_the_lsm_fail_clearly() {
    if !is_berth(&Runtime::new()) || lsm_active() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("lsm-exec");
    let mut bundle = Bundle::new();
    bundle.sh("sleep 30");
    rt.run_detached(&id, &bundle).ok();
    rt.exec(&["exec", "--apparmor", "docker-default", &id, "true"])
        .fails()
        .stderr_mentions(&["--apparmor", "not enabled on this host"]);
    rt.exec(&[
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0",
        &id,
        "true",
    ])
    .fails()
    .stderr_mentions(&["--process-label", "not enabled on this host"]);
    // The container is untouched: a plain exec still works.
    rt.exec(&["exec", &id, "true"]).ok();
    rt.delete_force(&id).ok();
}

/// A rootfs whose /proc is a symlink (to a directory the image controls, or
/// out of the rootfs): the proc mount is refused instead of landing where
/// the link points.
#[test]
fn rootfs_with_proc_symlink_is_refused() {
    let rt = Runtime::new();
    let id = unique_id("proc-symlink");
    let host = tempfile::tempdir().expect("tempdir");
    let mut bundle = Bundle::new();
    let proc_dir = bundle.rootfs().join("proc");
    let _ = fs::remove_dir_all(&proc_dir);
    symlink(host.path(), &proc_dir).expect("symlink /proc");
    bundle.args(&["true"]);
    let before = rt.leaks(&id, &bundle);
    let out = rt.create(&id, &bundle);
    if is_berth(&rt) {
        out.fails().stderr_mentions(&["proc", "symlink"]);
    }
    // Whatever the runtime did, the host directory got no procfs.
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&host.path().display().to_string()),
        "procfs mounted on the host target"
    );
    rt.delete_force(&id);
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// CVE-2025-52881: a sysctl write redirected by a mount over /proc/sys (a
/// bind mount of a host file in the config's mounts, standing in for a
/// racing volume) must not reach that file.
#[test]
fn sysctl_write_is_not_redirected_by_a_mount_over_procfs() {
    let rt = Runtime::new();
    let id = unique_id("cve-2025-52881");
    let host = tempfile::tempdir().expect("tempdir");
    let victim = host.path().join("victim");
    fs::write(&victim, "untouched\n").expect("write victim");
    let mut bundle = Bundle::new();
    bundle
        .args(&["true"])
        .sysctl("kernel.domainname", "pwned")
        .bind(&victim, "/proc/sys/kernel/domainname", &["bind"]);
    let before = rt.leaks(&id, &bundle);
    let out = rt.run(&id, &bundle);
    if is_berth(&rt) {
        out.fails()
            .stderr_mentions(&["sysctl", "kernel.domainname"]);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "untouched\n");
    rt.delete_force(&id);
}

/// CVE-2025-52565: /dev/console in a bind-mounted /dev is a symlink to a
/// file the container can reach (here a bind-mounted host file); the
/// terminal's bind mount must not land on that file.
#[test]
fn console_symlink_is_not_followed() {
    let rt = Runtime::new();
    let id = unique_id("cve-2025-52565");
    let dev = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    fs::write(data.path().join("victim"), "host\n").expect("write victim");
    symlink("/hostdata/victim", dev.path().join("console")).expect("symlink console");
    // A real null device: masking binds it over files.
    let null = std::ffi::CString::new(dev.path().join("null").display().to_string()).expect("path");
    // SAFETY: mknod(2) with a NUL-terminated path.
    let rc = unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod /dev/null");
    let dir = tempfile::tempdir().expect("socket dir");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind console socket");
    let mut bundle = Bundle::new();
    bundle
        .remove_mount("/dev")
        .bind(dev.path(), "/dev", &["rbind"])
        .mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["newinstance", "ptmxmode=0666", "mode=0620"],
        )
        .bind(data.path(), "/hostdata", &["rbind"])
        .args(&["true"]);
    bundle.config_mut()["process"]["terminal"] = true.into();
    bundle.save();
    let before = rt.leaks(&id, &bundle);
    let out = rt.create_with(
        &id,
        &bundle,
        &["--console-socket", &sock.display().to_string()],
    );
    drop(listener);
    // runc 1.1.5 refuses this /dev outright (it predates the fix); berth
    // must create the container and keep the console mount in place.
    if is_berth(&rt) {
        out.ok();
    }
    if out.success() {
        let pid = rt.state(&id)["pid"].as_i64().expect("pid");
        let mounts =
            fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("container mountinfo");
        let targets: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).collect();
        assert!(
            !targets.contains(&"/hostdata/victim"),
            "the pty was mounted over the symlink's target:\n{mounts}"
        );
        assert!(
            targets.contains(&"/dev/console"),
            "no console mount:\n{mounts}"
        );
    }
    assert_eq!(
        fs::read_to_string(data.path().join("victim")).expect("victim"),
        "host\n"
    );
    rt.delete_force(&id);
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// The `Cap*` lines of a `/proc/<pid>/status` text, as `name -> mask`.
fn cap_sets(status: &str) -> std::collections::BTreeMap<String, u64> {
    status
        .lines()
        .filter_map(|l| {
            let (name, hex) = l.split_once(':')?;
            let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
            name.starts_with("Cap").then(|| (name.to_string(), mask))
        })
        .collect()
}

/// CVE-2022-29162 (runc), CVE-2022-27650 (crun), CVE-2025-27612 (youki): an
/// exec'd process was given inheritable capabilities it was not asked for
/// (`exec --cap` added them to the inheritable set). An unprivileged user
/// then gains them by running a file whose inheritable file capabilities
/// include them: permitted after execve = inheritable & file inheritable.
/// The attack: a busybox copy with `cap_net_admin,cap_sys_admin+i` exec'd
/// as uid 1000 with `--cap CAP_NET_ADMIN`; it must end with no capability
/// at all, and no exec'd process may have an inheritable set the spec did
/// not give.
#[test]
fn exec_grants_no_inheritable_capabilities() {
    let rt = Runtime::new();
    let id = unique_id("cve-2022-29162");
    let mut bundle = Bundle::new();
    // no_new_privs would stop file capabilities on its own (Docker leaves it off).
    bundle
        .args(&["sleep", "120"])
        .set("/process/noNewPrivileges", serde_json::json!(false));
    let capbox = bundle.rootfs().join("bin/busybox-capi");
    fs::copy(bundle.rootfs().join("bin/busybox"), &capbox).expect("copy busybox");
    let setcap = Command::new("setcap")
        .arg("cap_net_admin,cap_sys_admin+i")
        .arg(&capbox)
        .output()
        .expect("run setcap (Debian package libcap2-bin)");
    assert!(
        setcap.status.success(),
        "setcap: {}",
        String::from_utf8_lossy(&setcap.stderr)
    );
    let before = rt.leaks(&id, &bundle);
    rt.run_detached(&id, &bundle).ok();
    let status = "/proc/self/status";
    for (what, flags) in [
        ("root with --cap", vec!["--cap", "CAP_NET_ADMIN"]),
        (
            "uid 1000 with --cap",
            vec!["--user", "1000:1000", "--cap", "CAP_NET_ADMIN"],
        ),
        ("uid 1000", vec!["--user", "1000:1000"]),
    ] {
        // busybox runs the applet named by argv[1] when its own name starts
        // with "busybox".
        for program in [&["/bin/cat"][..], &["/bin/busybox-capi", "cat"][..]] {
            let mut args = vec!["exec"];
            args.extend(&flags);
            args.push(id.as_str());
            args.extend(program);
            args.push(status);
            let out = rt.exec(&args);
            out.ok();
            let caps = cap_sets(&out.stdout);
            assert_eq!(
                caps.get("CapInh"),
                Some(&0),
                "{what}, {program:?}: {caps:x?}\n{out}"
            );
            assert_eq!(
                caps.get("CapAmb"),
                Some(&0),
                "{what}, {program:?}: {caps:x?}\n{out}"
            );
            if what.starts_with("uid 1000") {
                // Nothing may survive the execve of a non-root user, through
                // the file's inheritable capabilities least of all.
                assert_eq!(
                    caps.get("CapPrm"),
                    Some(&0),
                    "{what}, {program:?}: {caps:x?}\n{out}"
                );
                assert_eq!(
                    caps.get("CapEff"),
                    Some(&0),
                    "{what}, {program:?}: {caps:x?}\n{out}"
                );
            }
        }
    }
    // Control: the attack works where the spec itself asks for the
    // inheritable capability, so the checks above are not vacuous (file
    // capabilities honoured, the copy kept its xattr).
    let mut process = bundle.config()["process"].clone();
    process["args"] = serde_json::json!(["/bin/busybox-capi", "cat", status]);
    process["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    let net_admin = serde_json::json!(["CAP_NET_ADMIN"]);
    process["capabilities"] = serde_json::json!({"bounding": net_admin, "inheritable": net_admin});
    let file = bundle.path().join("process.json");
    fs::write(&file, process.to_string()).expect("write process.json");
    let out = rt.exec(&["exec", "--process", &file.display().to_string(), &id]);
    out.ok();
    let caps = cap_sets(&out.stdout);
    let bit = 1u64 << 12; // CAP_NET_ADMIN
    assert_eq!(caps.get("CapPrm"), Some(&bit), "control: {caps:x?}\n{out}");
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// Every entry under `dir`, recursively, as paths relative to it.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// CVE-2024-45310: two containers share a volume. One (the attacker) keeps
/// swapping a directory of the volume for a symlink to a host path; the other
/// has mounts whose destinations lie under that directory, so the runtime
/// must create them while the swap races. runc < 1.1.14 created them with a
/// MkdirAll that followed the symlink: empty directories and files appeared
/// on the host. Every component must be resolved and created inside the
/// rootfs (openat2 RESOLVE_IN_ROOT, mkdirat/mknodat), so the host directory
/// stays empty whatever each create's outcome.
///
/// The attacker is a thread of this test exchanging the two entries with
/// renameat2(RENAME_EXCHANGE) in a tight loop: what a process in the other
/// container can do on the shared volume, far faster than a busybox loop.
#[test]
fn racing_shared_volume_creates_nothing_on_the_host() {
    // runc 1.1.5 predates the fix (1.1.14); the race is there to be won.
    if berth_e2e::skip_unless_berth("runc 1.1.5 is vulnerable to CVE-2024-45310") {
        return;
    }
    let rt = Runtime::new();
    let volume = tempfile::tempdir().expect("volume");
    let host = tempfile::tempdir().expect("host dir");
    let file_src = volume.path().join(".source");
    fs::write(&file_src, "src\n").expect("write bind source");
    fs::create_dir(volume.path().join("a")).expect("mkdir a");
    symlink(host.path(), volume.path().join(".link")).expect("symlink .link");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let swaps = std::sync::atomic::AtomicU64::new(0);
    let (a, link) = (
        std::ffi::CString::new(volume.path().join("a").display().to_string()).expect("path"),
        std::ffi::CString::new(volume.path().join(".link").display().to_string()).expect("path"),
    );
    let (rounds, ran) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: renameat2(2) of two NUL-terminated absolute paths.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        link.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        // Stops the attacker however this closure ends (a failed assertion
        // included), so that the scope can join it.
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        let rounds = 40;
        let mut ran = 0;
        for _ in 0..rounds {
            let id = unique_id("cve-2024-45310-victim");
            let mut victim = Bundle::new();
            victim
                .bind(volume.path(), "/data", &["rbind"])
                .mount("/data/a/b/dir", "tmpfs", "tmpfs", &["size=64k"])
                .bind(&file_src, "/data/a/b/file", &["bind"])
                .args(&["true"]);
            let before = rt.leaks(&id, &victim);
            let out = rt.run(&id, &victim);
            // A create that lost the race may fail, with a message; it must not
            // have created anything outside its rootfs.
            if out.success() {
                ran += 1;
            } else {
                assert!(
                    !out.stderr.trim().is_empty() && !out.stderr.contains("panicked"),
                    "{out}"
                );
            }
            rt.delete_force(&id);
            rt.assert_nothing_left(&id, &victim, &before);
            assert_eq!(
                tree(host.path()),
                Vec::<String>::new(),
                "the runtime created entries on the host through the swapped symlink"
            );
        }
        (rounds, ran)
    });
    eprintln!(
        "{ran} of {rounds} victim containers ran during {} swaps; the host directory stayed empty",
        swaps.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(tree(host.path()), Vec::<String>::new());
}

/// Owner, mode and content of a host file, to show it was not touched.
fn fingerprint(path: &std::path::Path) -> (u32, u32, u32, String) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = fs::read_to_string(path).unwrap_or_default();
    (m.uid(), m.gid(), m.mode(), text)
}

/// crun's 2026 `/dev` advisories (CVE-2026-47766: device creation followed
/// rootfs `/dev` symlinks; CVE-2026-88265: a `/dev/null` symlink followed
/// when stdio is reopened, attaching and chowning a host file; CVE-2026-88264:
/// a `/dev/console` symlink made the runtime create a root-owned host file)
/// and runc's CVE-2026-41579 (a `/dev` symlink in an image gave host
/// writes). The image has no `/dev` mount, so its own `/dev` is used, and in
/// it `null`, `zero`, `ptmx`, `tty` and `console` are symlinks to host
/// paths (absolute, as the runtime on the host would see them). The process
/// runs as uid 1000 (stdio is handed over to that user). No host file may be
/// created, written, chowned or chmodded, and in the container the devices
/// must be the real ones.
#[test]
fn dev_symlinks_in_the_image_reach_nothing_on_the_host() {
    let rt = Runtime::new();
    let host = tempfile::tempdir().expect("host dir");
    let victims: Vec<std::path::PathBuf> = ["null", "zero", "ptmx", "tty"]
        .iter()
        .map(|n| host.path().join(format!("victim-{n}")))
        .collect();
    for v in &victims {
        fs::write(v, "host data\n").expect("write victim");
    }
    let before_host: Vec<_> = victims.iter().map(|v| fingerprint(v)).collect();
    let console_target = host.path().join("created-by-console");
    let make_bundle = |terminal: bool| {
        let mut bundle = Bundle::new();
        let dev = bundle.rootfs().join("dev");
        let _ = fs::remove_dir_all(&dev);
        fs::create_dir(&dev).expect("mkdir rootfs/dev");
        for (name, victim) in ["null", "zero", "ptmx", "tty"].iter().zip(&victims) {
            symlink(victim, dev.join(name)).expect("symlink device");
        }
        symlink(&console_target, dev.join("console")).expect("symlink console");
        bundle.remove_mount("/dev").user(1000, 1000, &[]);
        bundle.config_mut()["process"]["terminal"] = terminal.into();
        bundle
    };

    // Without a terminal: stdio handed to uid 1000, the devices used.
    let id = unique_id("dev-symlinks");
    let mut bundle = make_bundle(false);
    bundle.sh(
        "for d in null zero tty; do stat -c \"$d %F %t:%T\" /dev/$d; done; \
         readlink /dev/ptmx; echo pwned > /dev/null; head -c 4 /dev/zero | od -An -tx1",
    );
    let before = rt.leaks(&id, &bundle);
    let out = rt.run(&id, &bundle);
    if is_berth(&rt) {
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "null character special file 1:3",
                "zero character special file 1:5",
                "tty character special file 5:0",
                "pts/ptmx",
                " 00 00 00 00",
            ],
            "{out}"
        );
    }
    rt.delete_force(&id);
    rt.assert_nothing_left(&id, &bundle, &before);

    // With a terminal: /dev/console is replaced, never followed.
    let id = unique_id("dev-console-symlink");
    let mut bundle = make_bundle(true);
    bundle.args(&["true"]);
    let dir = tempfile::tempdir().expect("socket dir");
    let sock = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind console socket");
    let before = rt.leaks(&id, &bundle);
    let out = rt.create_with(
        &id,
        &bundle,
        &["--console-socket", &sock.display().to_string()],
    );
    drop(listener);
    if is_berth(&rt) {
        out.ok();
    }
    rt.delete_force(&id);
    rt.assert_nothing_left(&id, &bundle, &before);

    let after_host: Vec<_> = victims.iter().map(|v| fingerprint(v)).collect();
    assert_eq!(
        before_host, after_host,
        "a host file behind a /dev symlink was touched"
    );
    assert!(
        !console_target.exists(),
        "the runtime created {} through /dev/console",
        console_target.display()
    );
}

/// runc's CVE-2026-41579 class: the image's `/dev` itself is a symlink to a
/// host directory (absolute, as the runtime on the host sees it). Devices,
/// the `/dev/fd` and stdio links and `/dev/ptmx` must be made inside the
/// rootfs, and the host directory must stay empty.
#[test]
fn dev_dir_symlink_to_the_host_gets_nothing() {
    // runc 1.1.5 makes /dev/fd, /dev/std* and /dev/ptmx in the host directory.
    if berth_e2e::skip_unless_berth("runc 1.1.5 follows a rootfs /dev symlink onto the host") {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("dev-dir-symlink");
    let host_dev = tempfile::tempdir().expect("host dev dir");
    let mut bundle = Bundle::new();
    let dev = bundle.rootfs().join("dev");
    let _ = fs::remove_dir_all(&dev);
    symlink(host_dev.path(), &dev).expect("symlink rootfs/dev");
    bundle
        .remove_mount("/dev")
        .sh("stat -c '%F %t:%T' /dev/null");
    let before = rt.leaks(&id, &bundle);
    let out = rt.run(&id, &bundle);
    if is_berth(&rt) {
        out.ok();
        assert_eq!(out.stdout.trim(), "character special file 1:3", "{out}");
    }
    rt.delete_force(&id);
    rt.assert_nothing_left(&id, &bundle, &before);
    assert_eq!(
        tree(host_dev.path()),
        Vec::<String>::new(),
        "the runtime wrote into the host directory /dev pointed at"
    );
}

/// Shell function for verdict tables: `t NAME CMD...` runs CMD and prints
/// `NAME rc=<exit code> <its stderr on one line>`.
const VERDICT: &str =
    "t() { n=$1; shift; e=$(\"$@\" 2>&1 >/dev/null); r=$?; echo \"$n rc=$r\" $e; }; ";

/// What the differential test tries from inside: ordinary work, what the
/// dropped capabilities guard, what the user namespace changes and what
/// Docker's profile denies. Nothing here can harm the host even if it got
/// through: no capability over the host's namespaces is held.
const CONFINED_SCRIPT: &str = "\
    rm -rf /tmp/t; mkdir /tmp/t; \
    grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; \
    cat /proc/self/uid_map /proc/self/gid_map; id; \
    t ls ls / ; \
    t write sh -c 'echo x > /tmp/t/f' ; \
    t chmod chmod 4755 /tmp/t/f ; \
    t chown chown 5:5 /tmp/t/f ; \
    t chown-unmapped chown 70000:70000 /tmp/t/f ; \
    t mknod mknod /tmp/t/null c 1 3 ; \
    t mkfifo mkfifo /tmp/t/fifo ; \
    t chroot chroot / true ; \
    t kill kill -0 1 ; \
    t ping ping -c 1 -W 1 127.0.0.1 ; \
    t linux32 linux32 true ; \
    t netlink ip link ; \
    t unshare-user unshare -U true ; \
    t unshare-mount unshare -m true ; \
    t unshare-net unshare -n true ; \
    t mount mount -t tmpfs none /tmp/t ; \
    t umount umount /proc ; \
    t pivot_root pivot_root /tmp /tmp/t ; \
    t setns nsenter -t 1 -m true ; \
    t sethostname hostname berth-e2e ; \
    t settime date -s 2000-01-01 ; \
    t sysctl sysctl -w kernel.domainname=x ; \
    t swapoff swapoff /tmp/t/f ; \
    t syslog dmesg ; \
    t reboot reboot -f ; \
    t rlimit sh -c 'ulimit -n 1048576' ; \
    true";

/// Issue 4's "done when": a container with Docker's default seccomp profile,
/// capabilities dropped from Docker's default set (`--cap-drop chown,
/// net_raw, mknod, setfcap`) and a user namespace behaves under berth
/// exactly as under runc, for the same bundle: the same capability sets,
/// id maps and seccomp mode, and the same outcome (exit code and message)
/// for every syscall tried.
#[test]
fn docker_profile_dropped_caps_and_userns_behave_as_under_runc() {
    if berth_e2e::skip_unless_berth("compares berth with runc") {
        return;
    }
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipped: no runc binary to compare with (Debian package runc)");
        return;
    };
    let dropped = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_MKNOD", "CAP_SETFCAP"];
    let caps: Vec<&str> = berth_seccomp::docker::DEFAULT_CAPS
        .iter()
        .copied()
        .filter(|c| !dropped.contains(c))
        .collect();
    let profile =
        berth_seccomp::docker::default_profile(berth_seccomp::docker::native_goarch(), &caps);
    assert!(profile.is_object(), "Docker's profile did not convert");
    let mut bundle = Bundle::new();
    bundle
        .user_namespace(100000, 65536)
        .set(
            "/process/capabilities",
            serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps}),
        )
        .set("/linux/seccomp", profile)
        .set("/process/noNewPrivileges", serde_json::json!(false))
        .sh(&format!("{VERDICT}{CONFINED_SCRIPT}"));
    let mut outputs = Vec::new();
    for rt in [Runtime::new(), Runtime::with_bin(runc.clone())] {
        let id = unique_id("docker-userns");
        let before = rt.leaks(&id, &bundle);
        let out = rt.run(&id, &bundle);
        out.ok();
        rt.assert_nothing_left(&id, &bundle, &before);
        outputs.push((rt.bin().display().to_string(), out.stdout.clone()));
    }
    let (berth, runc) = (&outputs[0], &outputs[1]);
    let diff: Vec<String> = berth
        .1
        .lines()
        .zip(runc.1.lines())
        .filter(|(b, r)| b != r)
        .map(|(b, r)| format!("  berth: {b}\n  runc:  {r}"))
        .collect();
    assert!(
        diff.is_empty() && berth.1.lines().count() == runc.1.lines().count(),
        "{} and {} differ:\n{}\n--- berth ---\n{}\n--- runc ---\n{}",
        berth.0,
        runc.0,
        diff.join("\n"),
        berth.1,
        runc.1
    );
    // Not vacuous: the confinement shows.
    for (name, needle) in [
        ("chown", "chown rc=1"),
        ("mknod", "mknod rc=1"),
        ("unshare-user", "unshare-user rc=1"),
        ("mount", "mount rc=1"),
        ("ls", "ls rc=0"),
        ("chroot", "chroot rc=0"),
    ] {
        assert!(berth.1.contains(needle), "{name}: {}", berth.1);
    }
    eprintln!("berth and runc agree on:\n{}", berth.1);
}

/// CVE-2022-0492: a writable cgroup v1 hierarchy lets a container set
/// `release_agent` / `notify_on_release` and have the host run a program.
/// The `cgroup` mount is read-only, nosuid, nodev and noexec in every
/// hierarchy (berth sets the attributes on the whole tree at once), with
/// and without a cgroup namespace; writing, creating a child cgroup and
/// remounting read-write all fail.
#[test]
fn cgroup_mount_is_read_only_everywhere() {
    let rt = Runtime::new();
    for cgroupns in [false, true] {
        let mut bundle = Bundle::new();
        if cgroupns {
            bundle.namespace("cgroup", None);
        }
        bundle.sh(
            "grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5,6; \
             for d in /sys/fs/cgroup/*/; do \
               echo 1 > ${d}notify_on_release 2>/dev/null && echo WROTE $d; \
               mkdir ${d}escape 2>/dev/null && echo MADE $d; \
             done; \
             mount -o remount,rw /sys/fs/cgroup 2>/dev/null && echo REMOUNTED; true",
        );
        let out = rt.run(&unique_id("cgroup-ro"), &bundle);
        out.ok();
        let mounts: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('/')).collect();
        assert!(
            mounts.len() > 1,
            "no cgroup hierarchies mounted (cgroupns {cgroupns}): {out}"
        );
        for m in &mounts {
            let (path, opts) = m.split_once(' ').unwrap_or((m, ""));
            let opts: Vec<&str> = opts.split(',').collect();
            // runc 1.1 leaves the tmpfs holding the hierarchies writable
            // (only files of its own); berth makes it read-only too.
            let tmpfs = path == "/sys/fs/cgroup";
            for want in ["ro", "nosuid", "nodev", "noexec"] {
                if want == "ro" && tmpfs && !is_berth(&rt) {
                    continue;
                }
                assert!(
                    opts.contains(&want),
                    "{m} lacks {want} (cgroupns {cgroupns}): {out}"
                );
            }
        }
        for escaped in ["WROTE", "MADE", "REMOUNTED"] {
            assert!(!out.stdout.contains(escaped), "cgroupns {cgroupns}: {out}");
        }
    }
}
