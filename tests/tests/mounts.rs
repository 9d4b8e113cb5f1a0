//! `mounts`, devices, masked and read-only paths, `root.readonly` and sysctls.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::{parse_mounts, skip_unless_berth, unique_id, Bundle, Runtime};
use serde_json::json;

/// Runs the bundle in the foreground, asserting exit 0; returns stdout.
fn run_ok(bundle: &Bundle) -> String {
    let out = Runtime::new().run(&unique_id("mounts"), bundle);
    out.ok();
    out.stdout.clone()
}

fn host_mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo")
}

#[test]
fn standard_filesystems() {
    let mut bundle = Bundle::new();
    bundle.sh("cat /proc/self/mounts");
    let out = run_ok(&bundle);
    let mounts = parse_mounts(&out);
    let find = |target: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.1 == target)
            .unwrap_or_else(|| panic!("no mount at {target} in\n{out}"))
    };
    assert_eq!(find("/proc").2, "proc");
    let sys = find("/sys");
    assert_eq!(sys.2, "sysfs");
    assert!(
        sys.3.contains(&"ro".to_string()),
        "/sys must be read-only: {sys:?}"
    );
    assert_eq!(find("/dev").2, "tmpfs");
    assert_eq!(find("/dev/pts").2, "devpts");
    assert_eq!(find("/dev/shm").2, "tmpfs");
    assert_eq!(find("/dev/mqueue").2, "mqueue");
}

#[test]
fn tmpfs_with_size_and_mode() {
    let mut bundle = Bundle::new();
    bundle
        .mount("/scratch", "tmpfs", "tmpfs", &["nosuid", "nodev", "size=1m", "mode=1770"])
        .sh("stat -c %a /scratch; grep ' /scratch ' /proc/self/mounts; echo x > /scratch/f && echo ok");
    let out = run_ok(&bundle);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1770"), "{out}");
    let mount = parse_mounts(lines.next().unwrap_or_default());
    let options = &mount
        .first()
        .unwrap_or_else(|| panic!("no /scratch mount: {out}"))
        .3;
    for want in ["rw", "nosuid", "nodev", "size=1024k", "mode=1770"] {
        assert!(
            options.iter().any(|o| o == want),
            "{want} missing from {options:?}"
        );
    }
    assert_eq!(lines.next(), Some("ok"), "{out}");
}

#[test]
fn bind_mounts_rw_and_ro() {
    let host = tempfile::tempdir().expect("tempdir");
    let rw = host.path().join("rw");
    let ro = host.path().join("ro");
    for dir in [&rw, &ro] {
        fs::create_dir(dir).expect("mkdir");
        fs::write(dir.join("hello"), "hello\n").expect("write");
    }
    let mut bundle = Bundle::new();
    bundle
        .bind(&rw, "/rw", &[])
        .bind(&ro, "/ro", &["ro"])
        .sh("cat /rw/hello /ro/hello; echo new > /rw/new; \
         if echo x > /ro/denied; then echo ro-WRITABLE; else echo ro-denied; fi");
    let out = run_ok(&bundle);
    assert_eq!(out, "hello\nhello\nro-denied\n");
    assert_eq!(
        fs::read_to_string(rw.join("new")).ok().as_deref(),
        Some("new\n")
    );
    assert!(!ro.join("denied").exists());
}

/// A host tmpfs mounted for one test, unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> Self {
        fs::create_dir_all(at).expect("mkdir mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {} failed", at.display());
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let host = tempfile::tempdir().expect("tempdir");
    let sub = host.path().join("sub");
    let _mounted = HostMount::tmpfs(&sub);
    fs::write(sub.join("marker"), "in-submount").expect("write marker");

    let mut bundle = Bundle::new();
    bundle
        .mount("/plain", "bind", &host.path().to_string_lossy(), &["bind"])
        .mount(
            "/recursive",
            "bind",
            &host.path().to_string_lossy(),
            &["rbind"],
        )
        .sh("ls /plain/sub; echo --; cat /recursive/sub/marker");
    let out = run_ok(&bundle);
    assert_eq!(out, "--\nin-submount");
}

#[test]
fn devpts_and_ptmx() {
    let mut bundle = Bundle::new();
    bundle.sh("[ -c /dev/pts/ptmx ] && echo pts-ptmx; readlink /dev/ptmx");
    let out = run_ok(&bundle);
    assert_eq!(out, "pts-ptmx\npts/ptmx\n");
}

#[test]
fn default_devices() {
    let mut bundle = Bundle::new();
    bundle.sh("for d in null zero full random urandom tty; do \
           [ -c /dev/$d ] && echo \"$d $(stat -c '%t:%T' /dev/$d)\"; \
         done; \
         for l in fd stdin stdout stderr; do echo \"$l -> $(readlink /dev/$l)\"; done; \
         echo x > /dev/null && echo null-ok; \
         head -c 4 /dev/zero | wc -c; \
         if echo x 2>/dev/null > /dev/full; then echo full-WROTE; else echo full-ENOSPC; fi");
    let out = run_ok(&bundle);
    let expected = "null 1:3\nzero 1:5\nfull 1:7\nrandom 1:8\nurandom 1:9\ntty 5:0\n\
                    fd -> /proc/self/fd\nstdin -> /proc/self/fd/0\n\
                    stdout -> /proc/self/fd/1\nstderr -> /proc/self/fd/2\n\
                    null-ok\n4\nfull-ENOSPC\n";
    assert_eq!(out, expected);
}

#[test]
fn extra_linux_devices() {
    let mut bundle = Bundle::new();
    bundle
        .device(json!({
            "path": "/dev/e2e-null", "type": "c", "major": 1, "minor": 3,
            "fileMode": 0o666, "uid": 0, "gid": 0,
        }))
        .device(json!({
            "path": "/dev/sub/e2e-zero", "type": "c", "major": 1, "minor": 5,
            "fileMode": 0o640, "uid": 1000, "gid": 1001,
        }))
        .sh(
            "stat -c '%F %t:%T %a %u:%g' /dev/e2e-null /dev/sub/e2e-zero; \
             echo x > /dev/e2e-null && echo write-ok",
        );
    let out = run_ok(&bundle);
    // fileMode is exact (runc creates devices with umask 0); root cannot open the
    // 0640 one: the template grants no CAP_DAC_OVERRIDE.
    assert_eq!(
        out,
        "character special file 1:3 666 0:0\ncharacter special file 1:5 640 1000:1001\nwrite-ok\n"
    );
}

#[test]
fn masked_paths_hide_files_and_dirs() {
    let mut bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    fs::write(rootfs.join("secret-file"), "secret").expect("write");
    fs::create_dir(rootfs.join("secret-dir")).expect("mkdir");
    fs::write(rootfs.join("secret-dir/inner"), "secret").expect("write");
    bundle
        .masked_path("/secret-file")
        .masked_path("/secret-dir")
        // A masked path that does not exist is skipped, not an error.
        .masked_path("/does-not-exist")
        .sh("wc -c < /secret-file; ls -A /secret-dir | wc -l");
    let out = run_ok(&bundle);
    let counts: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(counts, ["0", "0"], "{out}");
    // The rootfs itself is untouched.
    assert_eq!(
        fs::read_to_string(rootfs.join("secret-file"))
            .ok()
            .as_deref(),
        Some("secret")
    );
}

#[test]
fn readonly_paths_refuse_writes() {
    let mut bundle = Bundle::new();
    fs::create_dir(bundle.rootfs().join("ro-dir")).expect("mkdir");
    bundle.readonly_path("/ro-dir").sh(
        "if touch /ro-dir/x 2>/dev/null; then echo ro-WRITABLE; else echo ro-denied; fi; \
         touch /tmp/x && echo rest-writable; \
         if echo 1 2>/dev/null > /proc/sys/kernel/printk; then echo sys-WRITABLE; else echo sys-denied; fi",
    );
    let out = run_ok(&bundle);
    assert_eq!(out, "ro-denied\nrest-writable\nsys-denied\n");
    assert!(!bundle.rootfs().join("ro-dir/x").exists());
}

#[test]
fn readonly_root() {
    let mut bundle = Bundle::new();
    bundle.readonly_root(true).sh(
        "touch /x 2>&1 | grep -q 'Read-only file system' && echo root-ro; \
         touch /dev/shm/x && echo shm-rw; grep ' / ' /proc/self/mounts",
    );
    let out = run_ok(&bundle);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("root-ro"), "{out}");
    assert_eq!(lines.next(), Some("shm-rw"), "{out}");
    let root = parse_mounts(lines.next().unwrap_or_default());
    assert!(
        root.first().is_some_and(|m| m.3.iter().any(|o| o == "ro")),
        "{out}"
    );
    assert!(!bundle.rootfs().join("x").exists());
}

#[test]
fn sysctl_in_new_network_namespace() {
    let host = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read ip_forward");
    let value = if host.trim() == "1" { "0" } else { "1" };
    let mut bundle = Bundle::new();
    bundle
        .sysctl("net.ipv4.ip_forward", value)
        .sh("cat /proc/sys/net/ipv4/ip_forward");
    let out = run_ok(&bundle);
    assert_eq!(out.trim(), value);
    let after = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read ip_forward");
    assert_eq!(after, host, "the host's sysctl changed");
}

/// A mount destination that is a symlink out of the rootfs must be resolved inside
/// the rootfs (runc: securejoin; CVE-2021-30465 and friends), never on the host.
#[test]
fn mount_through_symlink_stays_inside_rootfs() {
    let host = tempfile::tempdir().expect("tempdir");
    let target = host.path().join("host-target");
    fs::create_dir(&target).expect("mkdir host target");
    fs::write(target.join("host-file"), "host").expect("write");
    let target_str = target.display().to_string();

    let mut bundle = Bundle::new();
    symlink(&target, bundle.rootfs().join("evil")).expect("symlink evil");
    bundle
        .mount("/evil", "tmpfs", "tmpfs", &["size=1m"])
        .sh("stat -f -c %T /evil/; ls -A /evil/; echo pwned > /evil/pwned && echo wrote");

    let rt = Runtime::new();
    let id = unique_id("symlink-escape");
    let create = rt.create(&id, &bundle);
    create.ok();
    assert!(
        !host_mountinfo().contains(&target_str),
        "something was mounted on the host target"
    );
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    let out = create.stdout_now();
    assert_eq!(
        out, "tmpfs\nwrote\n",
        "the tmpfs must be at /evil inside the container"
    );

    let entries: Vec<String> = fs::read_dir(&target)
        .expect("read host target")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        entries,
        ["host-file"],
        "the host directory was written through"
    );
    assert!(!host_mountinfo().contains(&target_str));
    rt.delete(&id).ok();
}

#[test]
fn tmpfs_with_unknown_option_fails_at_create() {
    let rt = Runtime::new();
    let id = unique_id("bad-tmpfs-option");
    let mut bundle = Bundle::new();
    bundle.mount("/scratch", "tmpfs", "tmpfs", &["bogus-flag"]);
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["bogus-flag"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn bind_with_unknown_option_fails_at_create() {
    // runc 1.1.5 passes unknown options to mount(2) as data, which a bind mount
    // ignores, so it accepts this config; berth rejects it by name.
    if skip_unless_berth("runc 1.1.5 silently ignores unknown bind mount options") {
        return;
    }
    let host = tempfile::tempdir().expect("tempdir");
    let rt = Runtime::new();
    let id = unique_id("bad-bind-option");
    let mut bundle = Bundle::new();
    bundle.bind(host.path(), "/mnt", &["bogus-flag"]);
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["bogus-flag"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// `--no-pivot` (for ramdisk roots where pivot_root(2) fails): the rootfs is
/// moved onto / and chrooted into; the host's tree must still be out of sight.
#[test]
fn no_pivot_keeps_the_host_out_of_sight() {
    let rt = Runtime::new();
    let id = unique_id("no-pivot");
    let mut bundle = Bundle::new();
    fs::write(bundle.rootfs().join("marker"), "rootfs\n").expect("write marker");
    bundle.sh("cat /marker; test -e /proc/1/root/bin/busybox && echo busybox; ls /work /root/.cargo 2>/dev/null || echo no-host");
    let before = rt.leaks(&id, &bundle);
    let out = rt
        .with_bundle("run", &id, &bundle, &["--no-pivot"])
        .output();
    out.ok();
    assert_eq!(out.stdout, "rootfs\nbusybox\nno-host\n", "{out}");
    rt.assert_nothing_left(&id, &bundle, &before);
}
