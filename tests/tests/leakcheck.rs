//! Checks of the host-wide leak checker (`berth_e2e::host`, `hack/leakcheck.sh`):
//! a checker that sees nothing proves nothing. Each test leaves one thing of
//! every kind on the host, requires the checker to report it, cleans up and
//! requires the report to be empty again.
//!
//! The tests take host-wide snapshots, so they run one at a time.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use berth_e2e::host::{HostLeaks, HostScope, HostSnapshot, Kind};
use berth_e2e::workspace_root;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs a command that must succeed (or returns false when `optional`).
fn run(program: &str, args: &[&str], optional: bool) -> bool {
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let ok = status.as_ref().is_ok_and(|s| s.success());
    assert!(ok || optional, "{program} {args:?} failed: {status:?}");
    ok
}

/// One thing of each kind, removed on drop.
struct Litter {
    name: String,
    /// Removed on drop, after the mount in it.
    _dir: tempfile::TempDir,
    mount: PathBuf,
    cgroup: Option<PathBuf>,
    veth: bool,
    netns: bool,
    nft: bool,
    process: Child,
}

impl Litter {
    fn spread(tag: &str) -> Self {
        let name = format!("berth-lk{}{tag}", std::process::id() % 10000);
        let dir = tempfile::Builder::new()
            .prefix("berth-leakprobe-")
            .tempdir()
            .expect("tempdir");
        let mount = dir.path().join("mnt");
        fs::create_dir(&mount).expect("mkdir");
        let point = mount.to_str().expect("utf-8 path");
        run("mount", &["-t", "tmpfs", "tmpfs", point], false);
        // A cgroup where berth puts its own: <hierarchy>/berth/<name>.
        let cgroup = [
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ]
        .iter()
        .map(Path::new)
        .find(|h| h.join("cgroup.procs").exists())
        .map(|h| h.join("berth").join(&name));
        if let Some(cg) = &cgroup {
            fs::create_dir_all(cg).expect("mkdir cgroup");
        }
        // Interface names are at most 15 bytes.
        let veth = run(
            "ip",
            &[
                "link",
                "add",
                &name,
                "type",
                "veth",
                "peer",
                "name",
                &format!("{name}p"),
            ],
            true,
        );
        let netns = run("ip", &["netns", "add", &name], true);
        let nft = run(
            "nft",
            &["add", "table", "inet", &name.replace('-', "_")],
            true,
        );
        // Named like a berth process: the checker counts only those (and
        // processes in berth cgroups), not the rest of the machine.
        let process = Command::new("sleep")
            .arg0("berth-litter-sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        Litter {
            name,
            _dir: dir,
            mount,
            cgroup,
            veth,
            netns,
            nft,
            process,
        }
    }

    /// The kinds the checker must report for this litter.
    fn expected(&self) -> Vec<Kind> {
        let mut kinds = vec![Kind::Mount, Kind::Tmp, Kind::Process];
        if self.cgroup.is_some() {
            kinds.push(Kind::Cgroup);
        }
        if self.veth {
            kinds.push(Kind::NetDev);
        }
        if self.netns {
            kinds.push(Kind::NetNs);
        }
        if self.nft {
            kinds.push(Kind::Nft);
        }
        kinds
    }
}

impl Drop for Litter {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if self.nft {
            run(
                "nft",
                &["delete", "table", "inet", &self.name.replace('-', "_")],
                true,
            );
        }
        if self.netns {
            run("ip", &["netns", "delete", &self.name], true);
        }
        if self.veth {
            run("ip", &["link", "delete", &self.name], true);
        }
        if let Some(cg) = &self.cgroup {
            let _ = fs::remove_dir(cg);
        }
        run("umount", &[self.mount.to_str().unwrap_or_default()], true);
    }
}

/// `ip netns add` mounts /run/netns on itself the first time; do that before
/// the first snapshot so that it is not taken for a leak of the test.
fn prepare_netns_dir() {
    let probe = format!("berth-lkwarm{}", std::process::id() % 10000);
    if run("ip", &["netns", "add", &probe], true) {
        run("ip", &["netns", "delete", &probe], true);
    }
}

fn assert_reports(leaks: &HostLeaks, litter: &Litter) {
    for kind in litter.expected() {
        assert!(
            leaks.items.iter().any(|(k, _)| *k == kind),
            "the checker missed the {kind} left behind:\n{leaks}"
        );
    }
    let pid = litter.process.id().to_string();
    assert!(
        leaks.items.iter().any(|(k, what)| *k == Kind::Process
            && what.starts_with(&format!("{pid} berth-litter-sleep"))),
        "the sleep process {pid} is not reported:\n{leaks}"
    );
}

#[test]
fn host_snapshot_sees_every_kind_of_leftover() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    prepare_netns_dir();
    let scope = HostScope::from_env();
    let before = HostSnapshot::take(&scope);
    let litter = Litter::spread("a");
    let leaks = HostSnapshot::take(&scope).leaks_since(&before);
    assert_reports(&leaks, &litter);
    drop(litter);
    let after = HostSnapshot::leaks_settled(&before, &scope, Duration::from_secs(5));
    assert!(after.is_empty(), "still reported after cleanup:\n{after}");
}

#[test]
fn snapshots_survive_their_text_form() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A process the checker counts, so the round trip covers that kind too
    // on a machine where nothing else of berth's is running.
    let mut sleeper = Command::new("sleep")
        .arg0("berth-litter-sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let snap = HostSnapshot::take(&HostScope::from_env());
    sleeper.kill().expect("kill sleep");
    sleeper.wait().expect("reap sleep");
    assert!(snap.count(Kind::Mount) > 0 && snap.count(Kind::Process) > 0);
    let back = HostSnapshot::from_text(&snap.to_text()).expect("parse own text");
    assert!(back.leaks_since(&snap).is_empty() && snap.leaks_since(&back).is_empty());
}

#[test]
fn leakcheck_script_reports_and_clears() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    prepare_netns_dir();
    let script = workspace_root().join("hack/leakcheck.sh");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("before");
    let file = file.to_str().expect("utf-8 path");
    let leakcheck = |args: &[&str]| {
        Command::new("bash")
            .arg(&script)
            .args(args)
            .env("BERTH_LEAKCHECK_BIN", env!("CARGO_BIN_EXE_leakcheck"))
            .stdin(Stdio::null())
            .output()
            .expect("run hack/leakcheck.sh")
    };
    let out = leakcheck(&["snapshot", file]);
    assert!(out.status.success(), "snapshot: {out:?}");
    // The library reads what the script wrote.
    HostSnapshot::load(Path::new(file)).expect("the library reads the script's snapshot");

    let litter = Litter::spread("b");
    let out = leakcheck(&["diff", file, "--settle", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "diff with litter: {out:?}");
    for kind in litter.expected() {
        assert!(
            text.contains(&format!("  {kind}: ")),
            "no {kind} in:\n{text}"
        );
    }
    drop(litter);
    let out = leakcheck(&["diff", file, "--settle", "5"]);
    assert!(
        out.status.success(),
        "diff after cleanup: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(leakcheck(&["bogus"]).status.code(), Some(2));
}
