//! cgroups through the runtime: limits from `linux.resources` seen from
//! inside the container, `pause`/`resume`, `update` (flags and
//! `--resources -`), `events --stats` in the shape containerd's go-runc
//! parses, OOM events, and nothing left after delete.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::{unique_id, wait_until, Bundle, Runtime};
use serde_json::{json, Value};

/// A running container with `resources`, whose init sleeps.
fn running(rt: &Runtime, tag: &str, resources: Value) -> (String, Bundle) {
    let id = unique_id(tag);
    let mut bundle = Bundle::new();
    bundle.sh("sleep 300");
    bundle.set("/linux/resources", resources);
    rt.run_detached(&id, &bundle).ok();
    (id, bundle)
}

fn exec(rt: &Runtime, id: &str, script: &str) -> String {
    let out = rt.exec(&["exec", id, "sh", "-c", script]);
    out.ok();
    out.stdout.trim().to_owned()
}

/// The container's own cgroup directory of `controller`, read from inside
/// (the bundle mounts /sys/fs/cgroup read-only, as runc's template does).
fn read_limit(rt: &Runtime, id: &str, file: &str) -> String {
    exec(rt, id, &format!("cat /sys/fs/cgroup/{file}"))
}

#[test]
fn limits_from_the_config_apply_inside() {
    let rt = Runtime::new();
    let (id, bundle) = running(
        &rt,
        "cg-limits",
        json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 100 * 1024 * 1024},
            "pids": {"limit": 42},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}
        }),
    );
    let before = rt.leaks(&id, &bundle);
    assert_eq!(
        read_limit(&rt, &id, "memory/memory.limit_in_bytes"),
        "104857600"
    );
    assert_eq!(read_limit(&rt, &id, "pids/pids.max"), "42");
    assert_eq!(read_limit(&rt, &id, "cpu/cpu.shares"), "512");
    assert_eq!(read_limit(&rt, &id, "cpu/cpu.cfs_quota_us"), "50000");
    // The pids limit is enforced: forks beyond 42 processes fail (the
    // shell reports it and gives up; its exit status does not matter).
    rt.exec(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "for i in $(seq 60); do sleep 30 & done; sleep 30",
    ])
    .ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("init pid");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("init's cgroups");
    let pids_path = cgroups
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_owned()))
        .expect("a pids hierarchy");
    let current = || -> u32 {
        std::fs::read_to_string(format!("/sys/fs/cgroup/pids{pids_path}/pids.current"))
            .expect("pids.current of the container")
            .trim()
            .parse()
            .expect("a number")
    };
    wait_until(Duration::from_secs(10), || current() >= 42);
    assert_eq!(
        current(),
        42,
        "the container must stop at its limit of 42 processes"
    );
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let rt = Runtime::new();
    let id = unique_id("cg-pause");
    let mut bundle = Bundle::new();
    // A counter that only advances while the container runs.
    bundle.sh("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done");
    rt.run_detached(&id, &bundle).ok();
    let count_file = bundle.rootfs().join("tmp/count");
    let read = || {
        std::fs::read_to_string(&count_file)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(5), || read() > 10));
    rt.exec(&["pause", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "paused");
    let frozen_at = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), frozen_at, "the counter moved while paused");
    // exec is refused while paused, as runc does.
    rt.exec(&["exec", &id, "true"])
        .fails()
        .stderr_mentions(&["paused"]);
    // A second pause and a resume of a running container are errors.
    rt.exec(&["pause", &id]).fails();
    rt.exec(&["resume", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(wait_until(Duration::from_secs(5), || read() > frozen_at));
    rt.exec(&["resume", &id])
        .fails()
        .stderr_mentions(&["not paused"]);
    // A paused container can be deleted with --force.
    rt.exec(&["pause", &id]).ok();
    rt.delete_force(&id).ok();
}

#[test]
fn update_with_flags_and_with_resources_json() {
    let rt = Runtime::new();
    let (id, bundle) = running(
        &rt,
        "cg-update",
        json!({"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 30}}),
    );
    let before = rt.leaks(&id, &bundle);
    rt.exec(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "60",
        "--cpu-share",
        "256",
        &id,
    ])
    .ok();
    assert_eq!(
        read_limit(&rt, &id, "memory/memory.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(read_limit(&rt, &id, "pids/pids.max"), "60");
    assert_eq!(read_limit(&rt, &id, "cpu/cpu.shares"), "256");
    // containerd's form: LinuxResources JSON on stdin; unset values stay.
    let mut child = Command::new(rt.bin())
        .args([
            "--root",
            &rt.root().display().to_string(),
            "update",
            "--resources=-",
            &id,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn update");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"pids":{"limit":-1},"cpu":{"quota":20000,"period":100000}}"#)
        .expect("write resources");
    assert!(child.wait().expect("wait update").success());
    assert_eq!(read_limit(&rt, &id, "pids/pids.max"), "max");
    assert_eq!(read_limit(&rt, &id, "cpu/cpu.cfs_quota_us"), "20000");
    assert_eq!(
        read_limit(&rt, &id, "memory/memory.limit_in_bytes"),
        "134217728"
    );
    // Bad input names what is wrong.
    rt.exec(&["update", "--memory", "lots", &id])
        .fails()
        .stderr_mentions(&["--memory", "lots"]);
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
    // A stopped (deleted) container cannot be updated.
    rt.exec(&["update", "--pids-limit", "5", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
}

#[test]
fn events_stats_have_runcs_shape() {
    let rt = Runtime::new();
    let (id, _bundle) = running(
        &rt,
        "cg-events",
        json!({"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 30}}),
    );
    let out = rt.exec(&["events", "--stats", &id]);
    out.ok();
    let event: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON event");
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], id.as_str());
    let data = &event["data"];
    // The keys go-runc's Stats type decodes.
    assert!(
        data["cpu"]["usage"]["total"]
            .as_u64()
            .is_some_and(|t| t > 0),
        "{data:#}"
    );
    assert!(
        data["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "{data:#}"
    );
    assert_eq!(data["memory"]["usage"]["limit"], 64 * 1024 * 1024);
    assert!(
        data["pids"]["current"].as_u64().is_some_and(|c| c >= 1),
        "{data:#}"
    );
    assert_eq!(data["pids"]["limit"], 30);
    assert!(data["blkio"].is_object(), "{data:#}");
    rt.delete_force(&id).ok();
    rt.exec(&["events", "--stats", &id]).fails();
}

#[test]
fn events_stream_reports_an_oom_kill() {
    let rt = Runtime::new();
    let (id, _bundle) = running(
        &rt,
        "cg-oom",
        json!({"memory": {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024}}),
    );
    let events = Command::new(rt.bin())
        .args([
            "--root",
            &rt.root().display().to_string(),
            "events",
            "--interval",
            "200ms",
            &id,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn events");
    std::thread::sleep(Duration::from_millis(300));
    // A shell variable far larger than the limit: the OOM killer ends it.
    let _ = rt.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    rt.delete_force(&id).ok();
    let out = events.wait_with_output().expect("events output");
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(events.iter().any(|e| e["type"] == "stats"), "{text}");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "oom" && e["id"] == id.as_str()),
        "no oom event in:\n{text}"
    );
}

/// cgroupsPath in systemd's `slice:prefix:name` form needs the systemd
/// driver; with `--systemd-cgroup` on a host without systemd the error says
/// so. Neither leaves anything behind.
#[test]
fn systemd_cgroup_paths_fail_clearly() {
    if !berth_e2e::is_berth() {
        // runc 1.1.5 treats the path differently without --systemd-cgroup.
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cg-systemd");
    let mut bundle = Bundle::new();
    bundle.cgroups_path("system.slice:berth:test");
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle)
        .fails()
        .stderr_mentions(&["linux.cgroupsPath", "--systemd-cgroup"]);
    rt.assert_nothing_left(&id, &bundle, &before);
    if !std::path::Path::new("/run/systemd/system").exists() {
        let out = rt
            .cmd(&[
                "--systemd-cgroup",
                "create",
                "--bundle",
                &bundle.path().display().to_string(),
                &id,
            ])
            .output();
        out.fails().stderr_mentions(&["systemd is not running"]);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}

/// The device cgroup: with the template's deny-all rule, root with
/// CAP_MKNOD can create a device node (/dev/kmsg's, 1:11, which neither
/// runtime allows by default; runc allows `m` on every device) but not open
/// it; allowing it lets it open. (The
/// default devices are always allowed after the config's rules, as runc
/// does.)
#[test]
fn denied_device_cannot_be_created_or_opened() {
    let rt = Runtime::new();
    let attempt = |tag: &str, rules: Value| {
        let id = unique_id(tag);
        let mut bundle = Bundle::new();
        for set in ["bounding", "effective", "permitted"] {
            bundle.set(
                &format!("/process/capabilities/{set}"),
                json!(["CAP_MKNOD", "CAP_DAC_OVERRIDE"]),
            );
        }
        bundle.sh(
            "mknod /dev/kmsg2 c 1 11 && echo made; (: > /dev/kmsg2) 2>/dev/null && echo opened; true",
        );
        bundle.set("/linux/resources", json!({ "devices": rules }));
        let before = rt.leaks(&id, &bundle);
        let out = rt.run(&id, &bundle);
        out.ok();
        rt.assert_nothing_left(&id, &bundle, &before);
        out.stdout
    };
    let denied = attempt("cg-dev-deny", json!([{"allow": false, "access": "rwm"}]));
    assert_eq!(denied, "made\n", "the denied device was opened");
    let allowed = attempt(
        "cg-dev-allow",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
        ]),
    );
    assert_eq!(allowed, "made\nopened\n");
}

/// `update` changes cpuset and block IO weight, read back from the files.
#[test]
fn update_cpuset_and_blkio() {
    let rt = Runtime::new();
    let (id, bundle) = running(
        &rt,
        "cg-update2",
        json!({"cpu": {"cpus": "0"}, "blockIO": {"weight": 300}}),
    );
    let before = rt.leaks(&id, &bundle);
    assert_eq!(read_limit(&rt, &id, "cpuset/cpuset.cpus"), "0");
    rt.exec(&[
        "update",
        "--cpuset-cpus",
        "0-1",
        "--blkio-weight",
        "500",
        &id,
    ])
    .ok();
    assert_eq!(read_limit(&rt, &id, "cpuset/cpuset.cpus"), "0-1");
    let weight = read_limit(&rt, &id, "blkio/blkio.bfq.weight");
    assert!(
        weight.ends_with("500"),
        "blkio weight after update: {weight}"
    );
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}
