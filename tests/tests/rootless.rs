//! Rootless mode: an unprivileged user (here `nobody`) runs berth with
//! `--rootless`, a user namespace and no cgroup of its own, through the
//! whole lifecycle; several id ranges are mapped with newuidmap/newgidmap.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use berth_e2e::{is_berth, runtime_bin, unique_id, Bundle};
use serde_json::{json, Value};

const NOBODY: u32 = 65534;

/// Runs the runtime as nobody with its own state root. Output goes through
/// files: a created container keeps the runtime's stdio open, so reading a
/// pipe to its end would wait for the container.
fn as_nobody(root: &Path, args: &[&str]) -> Output {
    let out = tempfile::tempfile().expect("stdout file");
    let err = tempfile::tempfile().expect("stderr file");
    let status = Command::new(runtime_bin())
        .uid(NOBODY)
        .gid(NOBODY)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("XDG_RUNTIME_DIR", root)
        .arg("--root")
        .arg(root)
        .arg("--rootless=true")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .status()
        .expect("run the runtime as nobody");
    let read = |mut f: fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read output");
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The runtime's own rootless template, written as nobody.
fn rootless_template(root: &Path) -> Value {
    let dir = root.join("spec");
    fs::create_dir(&dir).expect("spec dir");
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown spec dir");
    ok(&as_nobody(
        root,
        &["spec", "--rootless", "--bundle", &dir.display().to_string()],
    ));
    serde_json::from_str(&fs::read_to_string(dir.join("config.json")).expect("rootless config"))
        .expect("json")
}

fn state_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("berth-rootless-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    root
}

fn bundle_from(template: &Value, script: &str) -> Bundle {
    let mut bundle = Bundle::new();
    let c = bundle.config_mut();
    for key in ["mounts", "linux"] {
        c[key] = template[key].clone();
    }
    c["process"]["args"] = json!(["sh", "-c", script]);
    c["process"]["terminal"] = json!(false);
    bundle.save();
    bundle
}

#[test]
fn nobody_runs_the_whole_lifecycle() {
    if !is_berth() {
        // runc 1.1.5's rootless mode wants systemd or a writable cgroup.
        return;
    }
    let root = state_root();
    let template = rootless_template(root.path());
    let bundle = bundle_from(
        &template,
        "id -u; cat /proc/self/uid_map | tr -s ' '; sleep 30",
    );
    let id = unique_id("rootless");
    let b = bundle.path().display().to_string();
    ok(&as_nobody(root.path(), &["create", "--bundle", &b, &id]));
    let state: Value =
        serde_json::from_str(&ok(&as_nobody(root.path(), &["state", &id]))).expect("state");
    assert_eq!(state["status"], "created");
    // init belongs to nobody on the host.
    let pid = state["pid"].as_i64().expect("pid");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("init status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{status}"
    );
    ok(&as_nobody(root.path(), &["start", &id]));
    let out = ok(&as_nobody(
        root.path(),
        &["exec", &id, "sh", "-c", "id -u; hostname"],
    ));
    assert_eq!(out, "0\nrunc\n");
    let pids: Vec<i64> = serde_json::from_str(&ok(&as_nobody(
        root.path(),
        &["ps", "--format", "json", &id],
    )))
    .expect("pids");
    assert_eq!(pids, vec![pid]);
    // No cgroup of its own: pause says so instead of failing obscurely.
    let pause = as_nobody(root.path(), &["pause", &id]);
    assert!(!pause.status.success());
    assert!(
        String::from_utf8_lossy(&pause.stderr).contains("needs a cgroup"),
        "{pause:?}"
    );
    ok(&as_nobody(root.path(), &["kill", &id, "KILL"]));
    std::thread::sleep(std::time::Duration::from_millis(200));
    ok(&as_nobody(root.path(), &["delete", &id]));
    let list = ok(&as_nobody(root.path(), &["list", "-q"]));
    assert!(!list.contains(&id), "{list}");
    // Limits cannot be honoured without a delegated cgroup: a clear error.
    let mut limited = bundle_from(&template, "true");
    limited.set("/linux/resources", json!({"pids": {"limit": 10}}));
    limited.save();
    let out = as_nobody(
        root.path(),
        &[
            "run",
            "--bundle",
            &limited.path().display().to_string(),
            &unique_id("rootless-limits"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linux.resources.pids") && err.contains("rootless"),
        "{err}"
    );
}

/// Restores /etc/subuid and /etc/subgid on drop.
struct SubIds(Vec<(String, Option<String>)>);

impl Drop for SubIds {
    fn drop(&mut self) {
        for (path, old) in &self.0 {
            match old {
                Some(text) => {
                    let _ = fs::write(path, text);
                }
                None => {
                    let _ = fs::remove_file(path);
                }
            }
        }
    }
}

#[test]
fn several_ranges_through_newuidmap() {
    if !is_berth() || !Path::new("/usr/bin/newuidmap").exists() {
        assert!(
            !is_berth(),
            "newuidmap is missing: hack/install-deps.sh installs uidmap"
        );
        return;
    }
    let mut saved = Vec::new();
    for path in ["/etc/subuid", "/etc/subgid"] {
        let old = fs::read_to_string(path).ok();
        let mut text = old.clone().unwrap_or_default();
        text.push_str("nobody:400000:65536\n");
        fs::write(path, text).expect("write subids");
        saved.push((path.to_owned(), old));
    }
    let _restore = SubIds(saved);
    let root = state_root();
    let mut template = rootless_template(root.path());
    let maps = json!([
        {"containerID": 0, "hostID": NOBODY, "size": 1},
        {"containerID": 1, "hostID": 400000, "size": 65536}
    ]);
    template["linux"]["uidMappings"] = maps.clone();
    template["linux"]["gidMappings"] = maps;
    let bundle = bundle_from(
        &template,
        "cat /proc/self/uid_map | tr -s ' '; cat /proc/self/setgroups",
    );
    let out = ok(&as_nobody(
        root.path(),
        &[
            "run",
            "--bundle",
            &bundle.path().display().to_string(),
            &unique_id("rootless-ranges"),
        ],
    ));
    assert_eq!(out, " 0 65534 1\n 1 400000 65536\nallow\n");
}
