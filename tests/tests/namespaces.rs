//! `linux.namespaces`: new, shared with the host, and joined by path.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_e2e::{skip_unless_berth, unique_id, Bundle, Invocation, Runtime, IDLE};

/// `/proc/self/ns/<name>` names, with the config.json namespace type for each.
const KINDS: [(&str, &str); 6] = [
    ("pid", "pid"),
    ("net", "network"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mnt", "mount"),
    ("cgroup", "cgroup"),
];

fn host_ns(name: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{name}"))
        .expect("read host namespace link")
        .display()
        .to_string()
}

/// Runs a container and returns `name -> link` for every namespace it reports.
fn container_ns(bundle: &mut Bundle) -> Vec<(String, String)> {
    let names = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"];
    let script: String = names
        .iter()
        .map(|n| format!("echo {n} $(readlink /proc/self/ns/{n}); "))
        .collect();
    bundle.sh(&script);
    let out = Runtime::new().run(&unique_id("ns"), bundle);
    out.ok();
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, link)| (name.to_string(), link.to_string()))
        .collect()
}

fn link_of<'a>(links: &'a [(String, String)], name: &str) -> &'a str {
    links
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, l)| l.as_str())
        .unwrap_or_else(|| panic!("no {name} in {links:?}"))
}

#[test]
fn requested_namespaces_are_new_and_others_shared() {
    let mut bundle = Bundle::new();
    for (_, kind) in KINDS {
        bundle.namespace(kind, None);
    }
    let links = container_ns(&mut bundle);
    for (name, _) in KINDS {
        assert_ne!(
            link_of(&links, name),
            host_ns(name),
            "{name} namespace is the host's"
        );
    }
    for name in ["user", "time"] {
        assert_eq!(
            link_of(&links, name),
            host_ns(name),
            "{name} namespace not shared"
        );
    }
}

#[test]
fn omitted_namespaces_are_the_hosts() {
    let mut bundle = Bundle::new();
    for kind in ["network", "ipc", "uts", "cgroup"] {
        bundle.remove_namespace(kind);
    }
    // Setting a hostname without a private UTS namespace is an error (runc:
    // "unable to set hostname without a private UTS namespace").
    if let Some(config) = bundle.config_mut().as_object_mut() {
        config.remove("hostname");
    }
    let links = container_ns(&mut bundle);
    for name in ["net", "ipc", "uts", "cgroup"] {
        assert_eq!(
            link_of(&links, name),
            host_ns(name),
            "{name} namespace not shared"
        );
    }
    assert_ne!(link_of(&links, "mnt"), host_ns("mnt"));
}

#[test]
fn pid_namespace_sees_only_the_container() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.sh("echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l");
    let out = rt.run(&unique_id("pidns"), &bundle);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1");
    // sh, ls, grep and wc at most.
    let count: u32 = lines[1].trim().parse().expect("count");
    assert!(count <= 4, "{out}");
}

#[test]
fn network_namespace_has_only_loopback() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.sh("ls /sys/class/net; sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' '");
    let out = rt.run(&unique_id("netns"), &bundle);
    out.ok();
    assert_eq!(out.stdout, "lo\nlo\n");
}

#[test]
fn uts_namespace_hostname() {
    let host_hostname = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .hostname("e2e-host")
        .sh("hostname; cat /proc/sys/kernel/hostname");
    let out = rt.run(&unique_id("uts"), &bundle);
    out.ok();
    assert_eq!(out.stdout, "e2e-host\ne2e-host\n");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        Some(host_hostname)
    );
}

#[test]
fn uts_namespace_domainname() {
    // runtime-spec 1.1 `domainname`; runc 1.1.5 ignores it (supported from runc 1.2).
    if skip_unless_berth("runc 1.1.5 ignores domainname") {
        return;
    }
    let host_domain = fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname");
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .hostname("e2e-host")
        .domainname("e2e.example")
        .sh("cat /proc/sys/kernel/domainname");
    let out = rt.run(&unique_id("domainname"), &bundle);
    out.ok();
    assert_eq!(out.stdout, "e2e.example\n");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").ok(),
        Some(host_domain)
    );
}

#[test]
fn ipc_namespace_is_private() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    // A fresh IPC namespace has no System V objects and its own mqueue.
    bundle.sh("sed 1d /proc/sysvipc/shm | wc -l; readlink /proc/self/ns/ipc");
    let out = rt.run(&unique_id("ipc"), &bundle);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0].trim(), "0", "{out}");
    assert_ne!(lines[1], host_ns("ipc"));
}

#[test]
fn cgroup_namespace_roots_the_container_cgroup() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle.namespace("cgroup", None).sh("cat /proc/self/cgroup");
    let out = rt.run(&unique_id("cgroupns"), &bundle);
    out.ok();
    // Inside its own cgroup namespace the container's cgroup is the root in every
    // hierarchy it was placed in.
    for line in out.stdout.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        assert_eq!(path, "/", "{line}\n{out}");
    }
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .user_namespace(100000, 65536)
        .sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; \
         stat -c '%u' /bin/busybox; readlink /proc/self/ns/user");
    let out = rt.run(&unique_id("userns"), &bundle);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(map(lines[0]), ["0", "100000", "65536"], "{out}");
    assert_eq!(map(lines[1]), ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[2..4], ["0", "0"], "{out}");
    // Host root's files are not mapped: they show as the overflow uid.
    assert_eq!(lines[4], "65534", "{out}");
    assert_ne!(lines[5], host_ns("user"));
}

fn map(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn time_namespace_offsets() {
    // runc 1.1.5 rejects the "time" namespace type (added in runc 1.2).
    if skip_unless_berth("runc 1.1.5 has no time namespace support") {
        return;
    }
    const OFFSET: f64 = 10.0 * 86400.0;
    let uptime = || -> f64 {
        let text = fs::read_to_string("/proc/uptime").expect("read /proc/uptime");
        parse_uptime(&text)
    };
    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .namespace("time", None)
        .set(
            "/linux/timeOffsets",
            serde_json::json!({
                "monotonic": {"secs": OFFSET as i64, "nanosecs": 0},
                "boottime": {"secs": OFFSET as i64, "nanosecs": 0},
            }),
        )
        .sh("cat /proc/uptime; readlink /proc/self/ns/time");
    let before = uptime();
    let out = rt.run(&unique_id("timens"), &bundle);
    let after = uptime();
    out.ok();
    let mut lines = out.stdout.lines();
    let inside = parse_uptime(lines.next().unwrap_or_default());
    // /proc/uptime reads CLOCK_BOOTTIME, shifted by the boottime offset; bounds, not
    // timing: the value was read between `before` and `after`.
    assert!(
        inside >= before + OFFSET - 0.01 && inside <= after + OFFSET + 0.01,
        "uptime inside {inside}, host {before}..{after}, offset {OFFSET}"
    );
    assert_ne!(lines.next().unwrap_or_default(), host_ns("time"));
}

fn parse_uptime(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad /proc/uptime {text:?}"))
}

/// A named network namespace made by `ip netns add`, deleted on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "berth-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(status.success(), "ip netns add {name} failed");
        NetNs { name }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

#[test]
fn join_network_namespace_by_path() {
    let netns = NetNs::new();
    let inode = fs::metadata(netns.path()).expect("stat netns").ino();
    // Give the namespace something to recognise it by.
    let status = Command::new("ip")
        .args(["-n", &netns.name, "link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    assert!(status.success());

    let rt = Runtime::new();
    let mut bundle = Bundle::new();
    bundle
        .namespace("network", Some(&netns.path()))
        .sh("readlink /proc/self/ns/net; cat /sys/class/net/lo/operstate");
    let out = rt.run(&unique_id("join-netns"), &bundle);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("net:[{inode}]"), "{out}");
    assert_eq!(
        lines[1], "unknown",
        "lo should be up (operstate unknown) in {out}"
    );
}

/// Runs `bundle` idle and detached as `id`, for others to join: its init's
/// pid and a function from a namespace name (`net`) to its link text.
fn run_owner(rt: &Runtime, id: &str, bundle: &mut Bundle) -> (i64, impl Fn(&str) -> String) {
    bundle.sh(IDLE);
    rt.run_detached(id, bundle).ok();
    let pid = rt.wait_status(id, "running")["pid"].as_i64().expect("pid");
    let link = move |name: &str| {
        fs::read_link(format!("/proc/{pid}/ns/{name}"))
            .expect("read container namespace")
            .display()
            .to_string()
    };
    (pid, link)
}

#[test]
fn join_another_containers_namespaces() {
    let rt = Runtime::new();
    let first_id = unique_id("ns-owner");
    let mut first = Bundle::new();
    first.hostname("owner");
    let (pid, link) = run_owner(&rt, &first_id, &mut first);

    let mut second = Bundle::new();
    for (name, kind) in [("net", "network"), ("ipc", "ipc"), ("uts", "uts")] {
        second.namespace(kind, Some(&format!("/proc/{pid}/ns/{name}")));
    }
    // The joined UTS namespace keeps the owner's hostname; setting one would change it.
    if let Some(config) = second.config_mut().as_object_mut() {
        config.remove("hostname");
    }
    second.sh(
        "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; \
         hostname",
    );
    let out = rt.run(&unique_id("ns-joiner"), &second);
    out.ok();
    let expected = format!("{}\n{}\n{}\nowner\n", link("net"), link("ipc"), link("uts"));
    assert_eq!(out.stdout, expected);
    rt.delete_force(&first_id).ok();
}

#[test]
fn joined_user_namespace_owns_the_new_namespaces() {
    // podman's rootless pods: containers join the pod's user namespace by
    // path and get new mount, network, ipc and uts namespaces of their own,
    // which must belong to that user namespace or init could not mount.
    let rt = Runtime::new();
    let owner_id = unique_id("userns-owner");
    let mut owner = Bundle::new();
    owner.user_namespace(100000, 65536);
    let (pid, link) = run_owner(&rt, &owner_id, &mut owner);

    let mut joiner = Bundle::new();
    // The pid namespace too: /proc can only be mounted by the user
    // namespace that owns the pid namespace. The mappings are the joined
    // namespace's, repeated as podman does (runc 1.1 requires them).
    joiner
        .user_namespace(100000, 65536)
        .namespace("user", Some(&format!("/proc/{pid}/ns/user")))
        .namespace("pid", Some(&format!("/proc/{pid}/ns/pid")))
        .sh("readlink /proc/self/ns/user; readlink /proc/self/ns/net; \
             readlink /proc/self/ns/mnt; cat /proc/self/uid_map; id -u; \
             grep -c ' /proc proc ' /proc/self/mounts");
    let out = rt.run(&unique_id("userns-joiner"), &joiner);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], link("user"), "{out}");
    for (line, ns) in [(lines[1], "net"), (lines[2], "mnt")] {
        assert_ne!(line, link(ns), "{ns} is the owner's: {out}");
        assert_ne!(line, host_ns(ns), "{ns} is the host's: {out}");
    }
    assert_eq!(map(lines[3]), ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[4], "0", "{out}");
    assert_eq!(lines[5], "1", "{out}");

    // berth makes the pid namespace before it joins the user namespace, so
    // a new one with a joined user namespace is refused up front (runc
    // forks twice to make it).
    if !skip_unless_berth("runc forks twice to support a new pid namespace here") {
        let mut new_pid = Bundle::new();
        new_pid
            .namespace("user", Some(&format!("/proc/{pid}/ns/user")))
            .sh("true");
        rt.run(&unique_id("userns-newpid"), &new_pid)
            .fails()
            .stderr_mentions(&["not supported", "pid namespace"]);
    }
    rt.delete_force(&owner_id).ok();
}

#[test]
fn a_joined_user_namespace_gets_none_of_the_callers_groups() {
    // A user namespace made by an unprivileged user has setgroups denied:
    // whatever supplementary groups a process has when it joins, it keeps.
    // Started by root with groups 0 and 4 (as sudo leaves them), the
    // container must not read a host file only group root may read.
    if skip_unless_berth("runc 1.1.5 fails to start a container in this namespace owned by nobody")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod dir");
    let secret = dir.path().join("secret");
    fs::write(&secret, "the-secret\n").expect("write secret");
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o040))
        .expect("chmod secret");
    // The namespace's owner: nobody, mapped as root of a new user and pid
    // namespace, with `sleep` as that namespace's pid 1 (killed on drop).
    let owner = Invocation::program(
        Path::new("setpriv"),
        &[
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "sleep",
            "60",
        ],
        dir.path(),
    )
    .spawn();
    let mut pid = String::new();
    let started = berth_e2e::wait_until(std::time::Duration::from_secs(5), || {
        let children = format!("/proc/{0}/task/{0}/children", owner.pid());
        pid = fs::read_to_string(children)
            .ok()
            .and_then(|c| c.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default();
        fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    });
    assert!(started, "the namespace owner did not start");

    let rt = Runtime::wrapped("exec setpriv --groups 0,4 --");
    let mut bundle = Bundle::new();
    bundle
        .user_namespace(65534, 1)
        .namespace("user", Some(&format!("/proc/{pid}/ns/user")))
        .namespace("pid", Some(&format!("/proc/{pid}/ns/pid")))
        .bind(&secret, "/etc/hostname", &["ro"])
        .sh("grep '^Groups' /proc/self/status; cat /etc/hostname 2>&1; true");
    // One id is mapped: devpts cannot take gid 5 there.
    if let Some(mounts) = bundle.config_mut()["mounts"].as_array_mut() {
        for m in mounts.iter_mut().filter(|m| m["type"] == "devpts") {
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| o != "gid=5");
            }
        }
    }
    let out = rt.run(&unique_id("userns-groups"), &bundle);
    drop(owner);
    out.ok();
    assert!(
        !out.stdout.contains("the-secret"),
        "read with the caller's groups: {out}"
    );
    let groups = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(groups.trim_start_matches("Groups:").trim(), "", "{out}");
}
