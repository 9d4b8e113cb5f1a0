//! The container lifecycle: create, start, state, kill, delete, run, list, and the
//! transitions the runtime-spec forbids (`runtime.md`, Operations).

use std::fs;

use berth_e2e::{
    is_rfc3339, unique_id, wait_until, Bundle, Runtime, IDLE, STATE_TIMEOUT, WAIT_FOR_GATE,
};
use serde_json::Value;

/// The status and pid, to show that a refused operation changed nothing.
fn status_and_pid(rt: &Runtime, id: &str) -> (String, i64) {
    let state = rt.state(id);
    let status = state["status"].as_str().unwrap_or_default().to_string();
    (status, state["pid"].as_i64().unwrap_or(-1))
}

/// A running container blocked on the gate; returns its bundle.
fn running(rt: &Runtime, id: &str) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.sh(&format!("{WAIT_FOR_GATE} echo done"));
    rt.run_detached(id, &bundle).ok();
    rt.wait_status(id, "running");
    bundle
}

/// A stopped (not deleted) container.
fn stopped(rt: &Runtime, id: &str) -> Bundle {
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    rt.create(id, &bundle).ok();
    rt.start(id).ok();
    rt.wait_status(id, "stopped");
    bundle
}

#[test]
fn create_start_stop_delete() {
    let rt = Runtime::new();
    let id = unique_id("lifecycle");
    let mut bundle = Bundle::new();
    bundle.sh(&format!("echo started; {WAIT_FOR_GATE} echo done"));
    let before = rt.leaks(&id, &bundle);

    let pid_file = bundle.path().join("container.pid");
    let pid_arg = pid_file.display().to_string();
    let create = rt.create_with(&id, &bundle, &["--pid-file", &pid_arg]);
    create.ok();
    assert!(create.stderr.is_empty(), "create wrote to stderr\n{create}");

    let state = rt.state(&id);
    assert_eq!(state["status"], "created", "{state:#}");
    let pid = state["pid"].as_i64().expect("pid is a number");
    assert!(pid > 0, "{state:#}");
    // go-runc parses the pid file with strconv.Atoi and no trimming.
    let written = fs::read_to_string(&pid_file).expect("pid file written by create");
    assert_eq!(
        written,
        pid.to_string(),
        "pid file must be decimal with no newline"
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // The user program must not run before start.
    assert!(
        !create.stdout_now().contains("started"),
        "{}",
        create.stdout_now()
    );

    rt.start(&id).ok();
    let state = rt.wait_status(&id, "running");
    assert_eq!(
        state["pid"].as_i64(),
        Some(pid),
        "start must not change the pid"
    );
    assert!(
        wait_until(STATE_TIMEOUT, || create.stdout_now().contains("started")),
        "container output: {:?}",
        create.stdout_now()
    );

    bundle.open_gate();
    let state = rt.wait_status(&id, "stopped");
    assert_eq!(
        state["pid"].as_i64().unwrap_or(0),
        0,
        "stopped pid is 0: {state:#}"
    );
    assert!(wait_until(STATE_TIMEOUT, || create
        .stdout_now()
        .contains("done")));

    rt.delete(&id).ok();
    rt.exec(&["state", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn run_returns_the_container_exit_code() {
    let rt = Runtime::new();
    let id = unique_id("run-exit");
    let mut bundle = Bundle::new();
    bundle.sh("echo out; echo err >&2; exit 7");
    let before = rt.leaks(&id, &bundle);

    let out = rt.run(&id, &bundle);
    assert_eq!(out.code(), 7, "{out}");
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err"), "{out}");
    // Without --keep, run deletes the container when it exits.
    rt.exec(&["state", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn run_zero_exit_and_signal_exit() {
    let rt = Runtime::new();
    let id = unique_id("run-zero");
    let mut bundle = Bundle::new();
    bundle.args(&["true"]);
    assert_eq!(rt.run(&id, &bundle).code(), 0);

    // A signal death is reported as 128 + signo (runc: libcontainer/utils ExitStatus).
    let id = unique_id("run-signal");
    let mut bundle = Bundle::new();
    bundle.sh(&format!("echo ready; {IDLE}"));
    let run = rt.spawn_run(&id, &bundle);
    run.wait_for_stdout("ready", STATE_TIMEOUT);
    rt.kill(&id, "KILL").ok();
    let out = run.wait();
    assert_eq!(out.code(), 128 + 9, "{out}");
}

#[test]
fn run_detached() {
    let rt = Runtime::new();
    let id = unique_id("run-d");
    let mut bundle = Bundle::new();
    bundle.sh(&format!("echo hello; {WAIT_FOR_GATE} exit 3"));
    let before = rt.leaks(&id, &bundle);

    let out = rt.run_detached(&id, &bundle);
    out.ok();
    let state = rt.wait_status(&id, "running");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state:#}");
    assert!(wait_until(STATE_TIMEOUT, || out
        .stdout_now()
        .contains("hello")));

    bundle.open_gate();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// `runc:list.go containerState`; `list.bats` depends on the key order.
#[test]
fn state_json_keys_in_runc_order() {
    let rt = Runtime::new();
    let id = unique_id("state-keys");
    let mut bundle = Bundle::new();
    bundle.annotation("org.example.key", "value");
    rt.create(&id, &bundle).ok();

    let out = rt.exec(&["state", &id]);
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    let state: Value = serde_json::from_str(&out.stdout).expect("state is JSON");
    let keys: Vec<&str> = state
        .as_object()
        .expect("state is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "annotations",
        "owner",
    ];
    assert_eq!(keys, expected, "{}", out.stdout);
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], bundle.path().display().to_string());
    assert_eq!(state["rootfs"], bundle.rootfs().display().to_string());
    assert_eq!(state["annotations"]["org.example.key"], "value");
    assert_eq!(state["owner"], "");
    assert!(state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()));
    // RFC3339 with nanoseconds and Z, e.g. 2026-01-02T03:04:05.123456789Z.
    let created = state["created"].as_str().expect("created is a string");
    assert!(is_rfc3339(created), "created {created:?} is not RFC3339");

    // Without annotations the key is left out (omitempty).
    let id2 = unique_id("state-keys-plain");
    let bundle2 = Bundle::new();
    rt.create(&id2, &bundle2).ok();
    let state = rt.state(&id2);
    let keys: Vec<&str> = state
        .as_object()
        .expect("state is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let without: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|k| *k != "annotations")
        .collect();
    assert_eq!(keys, without, "{state:#}");
}

#[test]
fn list_table_json_and_quiet() {
    let rt = Runtime::new();
    let id = unique_id("list");
    let bundle = Bundle::new();
    rt.create(&id, &bundle).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");

    let table = rt.list(&[]);
    table.ok();
    let mut lines = table.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let row: Vec<&str> = lines
        .find(|l| l.split_whitespace().next() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no row for {id}\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], pid.to_string());
    assert_eq!(row[2], "created");
    assert_eq!(row[3], bundle.path().display().to_string());

    let quiet = rt.list(&["-q"]);
    quiet.ok();
    assert_eq!(quiet.stdout.trim(), id, "{quiet}");

    let json = rt.list(&["--format", "json"]);
    json.ok();
    let list: Value = serde_json::from_str(&json.stdout).expect("list json");
    let entries = list.as_array().expect("list json is an array");
    assert_eq!(entries.len(), 1, "{json}");
    assert_eq!(entries[0]["id"], id.as_str());
    assert_eq!(entries[0]["status"], "created");
    assert_eq!(entries[0]["pid"].as_i64(), Some(pid));
    assert_eq!(entries[0]["bundle"], bundle.path().display().to_string());
}

#[test]
fn list_empty_root() {
    let rt = Runtime::new();
    let json = rt.list(&["--format", "json"]);
    json.ok();
    // runc encodes a nil slice: `null`.
    let value: Value = serde_json::from_str(&json.stdout).expect("list json");
    assert!(
        value.is_null() || value.as_array().is_some_and(|a| a.is_empty()),
        "{json}"
    );
    let quiet = rt.list(&["-q"]);
    quiet.ok();
    assert_eq!(quiet.stdout.trim(), "");
}

#[test]
fn start_twice_fails_and_changes_nothing() {
    let rt = Runtime::new();
    let id = unique_id("start-twice");
    let mut bundle = Bundle::new();
    bundle.sh(&format!("{WAIT_FOR_GATE} true"));
    rt.create(&id, &bundle).ok();
    rt.start(&id).ok();
    let before = status_and_pid(&rt, &id);
    assert_eq!(before.0, "running");

    rt.start(&id).fails().stderr_mentions(&["cannot start"]);
    assert_eq!(status_and_pid(&rt, &id), before);
    bundle.open_gate();
}

#[test]
fn start_stopped_fails() {
    let rt = Runtime::new();
    let id = unique_id("start-stopped");
    stopped(&rt, &id);
    rt.start(&id).fails().stderr_mentions(&["cannot start"]);
    assert_eq!(status_and_pid(&rt, &id).0, "stopped");
}

#[test]
fn delete_running_without_force_fails() {
    let rt = Runtime::new();
    let id = unique_id("delete-running");
    let bundle = running(&rt, &id);
    let before = status_and_pid(&rt, &id);

    let out = rt.delete(&id);
    out.fails()
        .stderr_mentions(&[&format!("cannot delete container {id} that is not stopped")]);
    assert_eq!(status_and_pid(&rt, &id), before);
    bundle.open_gate();
}

#[test]
fn delete_force_running() {
    let rt = Runtime::new();
    let id = unique_id("delete-force");
    let mut bundle = Bundle::new();
    bundle.sh(IDLE);
    let before = rt.leaks(&id, &bundle);
    rt.run_detached(&id, &bundle).ok();
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().expect("pid");

    rt.delete_force(&id).ok();
    rt.exec(&["state", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    assert!(
        wait_until(STATE_TIMEOUT, || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()
            || fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))),
        "init {pid} survived delete --force"
    );
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn delete_force_created_and_unknown() {
    let rt = Runtime::new();
    let id = unique_id("delete-force-created");
    let bundle = Bundle::new();
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle).ok();
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);

    // runc: a missing container is only an error without --force.
    rt.delete_force(&unique_id("never-created")).ok();
}

#[test]
fn kill_stopped_container() {
    let rt = Runtime::new();
    let id = unique_id("kill-stopped");
    stopped(&rt, &id);
    rt.kill(&id, "KILL")
        .fails()
        .stderr_mentions(&["container not running"]);
    assert_eq!(status_and_pid(&rt, &id).0, "stopped");
    // kill.bats: `kill --all` on a stopped container succeeds.
    rt.exec(&["kill", "--all", &id, "KILL"]).ok();
    assert_eq!(status_and_pid(&rt, &id).0, "stopped");
    rt.delete(&id).ok();
}

#[test]
fn kill_created_container() {
    let rt = Runtime::new();
    let id = unique_id("kill-created");
    let bundle = Bundle::new();
    let before = rt.leaks(&id, &bundle);
    rt.create(&id, &bundle).ok();
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn unknown_id_does_not_exist() {
    let rt = Runtime::new();
    let id = unique_id("unknown");
    rt.exec(&["state", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.kill(&id, "KILL")
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.delete(&id).fails().stderr_mentions(&["does not exist"]);
    rt.start(&id).fails().stderr_mentions(&["does not exist"]);
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn create_duplicate_id_fails() {
    let rt = Runtime::new();
    let id = unique_id("duplicate");
    let first = Bundle::new();
    rt.create(&id, &first).ok();
    let before = status_and_pid(&rt, &id);

    let second = Bundle::new();
    rt.create(&id, &second)
        .fails()
        .stderr_mentions(&["already exists"]);
    assert_eq!(status_and_pid(&rt, &id), before);
    assert_eq!(rt.state(&id)["bundle"], first.path().display().to_string());
}

#[test]
fn invalid_ids_are_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new();
    let escape = rt.root().parent().expect("root has a parent").join("x");
    let escape_existed = escape.exists();
    for id in ["../x", "a/b", "..", "a b"] {
        let out = rt.create(id, &bundle);
        out.fails();
        // runc: "invalid container ID format"; berth may word it differently.
        out.stderr_mentions(&["invalid", "id"]);
        rt.exec(&["state", id]).fails();
    }
    assert_eq!(
        escape.exists(),
        escape_existed,
        "../x escaped the state root"
    );
    assert!(!rt.root().join("a").exists(), "a/b created a state dir");
    let entries = fs::read_dir(rt.root()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        entries,
        0,
        "invalid ids left state under {}",
        rt.root().display()
    );
}

/// Each signal spelling reaches init; trap handlers show which signal arrived.
#[test]
fn kill_by_name_and_number() {
    let rt = Runtime::new();
    // (argument to kill, trapped signal, expected exit status of `run`)
    let cases = [
        ("USR1", Some("USR1"), 3),
        ("SIGUSR2", Some("USR2"), 4),
        ("SIGTERM", Some("TERM"), 5),
        ("15", Some("TERM"), 5),
        ("KILL", None, 128 + 9),
        ("9", None, 128 + 9),
    ];
    for (arg, trapped, want) in cases {
        let id = unique_id("kill-signal");
        let mut bundle = Bundle::new();
        let trap = match trapped {
            Some(sig) => format!("trap 'echo got-{sig}; exit {want}' {sig}; "),
            None => String::new(),
        };
        bundle.sh(&format!("{trap}echo ready; {IDLE}"));
        let run = rt.spawn_run(&id, &bundle);
        run.wait_for_stdout("ready", STATE_TIMEOUT);
        rt.kill(&id, arg).ok();
        let out = run.wait();
        assert_eq!(out.code(), want, "kill {arg}\n{out}");
        if let Some(sig) = trapped {
            assert!(
                out.stdout.contains(&format!("got-{sig}")),
                "kill {arg}\n{out}"
            );
        }
    }
}

#[test]
fn kill_default_signal_is_term() {
    let rt = Runtime::new();
    let id = unique_id("kill-default");
    let mut bundle = Bundle::new();
    bundle.sh(&format!(
        "trap 'echo got-TERM; exit 6' TERM; echo ready; {IDLE}"
    ));
    let run = rt.spawn_run(&id, &bundle);
    run.wait_for_stdout("ready", STATE_TIMEOUT);
    rt.exec(&["kill", &id]).ok();
    let out = run.wait();
    assert_eq!(out.code(), 6, "{out}");
}

#[test]
fn explicit_cgroups_path_is_used_and_removed() {
    let rt = Runtime::new();
    let id = unique_id("cgroups-path");
    let path = format!("/{id}-explicit");
    let mut bundle = Bundle::new();
    bundle.cgroups_path(&path).sh(IDLE);
    let before = rt.leaks(&id, &bundle);
    rt.run_detached(&id, &bundle).ok();
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().expect("pid");
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    // Every hierarchy the init joined is at the configured path.
    let memory = cgroups
        .lines()
        .find(|l| l.contains(":memory:") || l.starts_with("0::"))
        .unwrap_or_else(|| panic!("no memory or unified line in {cgroups}"));
    assert!(memory.ends_with(&path), "{cgroups}");

    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// Without `linux.cgroupsPath` runc uses `/<id>` and berth `/berth/<id>` (documented
/// difference); either way the cgroup is named after the id and removed by delete.
#[test]
fn default_cgroup_is_named_after_the_id() {
    let rt = Runtime::new();
    let id = unique_id("cgroups-default");
    let mut bundle = Bundle::new();
    bundle.sh(IDLE);
    let before = rt.leaks(&id, &bundle);
    rt.run_detached(&id, &bundle).ok();
    let pid = rt.wait_status(&id, "running")["pid"].as_i64().expect("pid");
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let expected = if berth_e2e::is_berth() {
        format!("/berth/{id}")
    } else {
        format!("/{id}")
    };
    assert!(
        cgroups
            .lines()
            .any(|l| l.ends_with(&format!(":{expected}"))),
        "no {expected} in\n{cgroups}"
    );
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}
