//! `ps`: the container's processes from its cgroup (`runc:ps.go`, contract §1.3).
//! `--format json` is what containerd's shim reads (go-runc `Ps`); the table runs the
//! host's `ps` and keeps the lines whose PID column is in the container.

use std::fs;

use berth_e2e::{unique_id, wait_until, Bundle, Runtime, STATE_TIMEOUT};
use serde_json::Value;

/// `ps -f json <id>` (or `--format json`), parsed into pids.
#[track_caller]
fn ps_json(rt: &Runtime, flag: &str, id: &str) -> Vec<i64> {
    let out = rt.exec(&["ps", flag, "json", id]);
    out.ok();
    // json.Encoder: one line, newline-terminated.
    assert!(
        out.stdout.ends_with('\n') && out.stdout.trim_end().lines().count() == 1,
        "{out}"
    );
    let value: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{out}"));
    if value.is_null() {
        // runc encodes an empty (nil) list as `null`.
        return Vec::new();
    }
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array\n{out}"))
        .iter()
        .map(|p| {
            p.as_i64()
                .unwrap_or_else(|| panic!("non-integer pid {p}\n{out}"))
        })
        .collect()
}

/// Runs `bundle` (whose init sleeps) and execs a detached `sleep 99` into it;
/// returns the host pids of init and of the exec'd process.
fn start_with_exec(rt: &Runtime, id: &str, bundle: &Bundle) -> (i64, i64) {
    rt.run_detached(id, bundle).ok();
    let init = rt.wait_status(id, "running")["pid"].as_i64().expect("pid");
    let pid_file = bundle.path().join("exec.pid");
    let pid_arg = pid_file.display().to_string();
    rt.exec(&["exec", "-d", "--pid-file", &pid_arg, id, "sleep", "99"])
        .ok();
    let exec = fs::read_to_string(&pid_file)
        .expect("exec pid file")
        .parse()
        .expect("decimal pid");
    (init, exec)
}

fn sleeping_bundle() -> Bundle {
    let mut bundle = Bundle::new();
    bundle.args(&["sleep", "120"]);
    bundle
}

#[test]
fn ps_json_lists_init_and_exec() {
    let rt = Runtime::new();
    let id = unique_id("ps-json");
    let bundle = sleeping_bundle();
    let before = rt.leaks(&id, &bundle);
    let (init, exec) = start_with_exec(&rt, &id, &bundle);

    for flag in ["--format", "-f"] {
        let pids = ps_json(&rt, flag, &id);
        assert!(pids.contains(&init), "init {init} not in {pids:?}");
        assert!(pids.contains(&exec), "exec'd {exec} not in {pids:?}");
        assert_eq!(pids.len(), 2, "{pids:?}");
    }
    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn ps_table() {
    let rt = Runtime::new();
    let id = unique_id("ps-table");
    let bundle = sleeping_bundle();
    let before = rt.leaks(&id, &bundle);
    let (init, exec) = start_with_exec(&rt, &id, &bundle);
    let pids = ps_json(&rt, "--format", &id);

    // Default: the host's `ps -ef`, filtered by the PID column (ps.bats).
    let out = rt.exec(&["ps", &id]);
    out.ok();
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row_of = |pid: i64| {
        rows.iter()
            .find(|r| r.get(1) == Some(&pid.to_string().as_str()))
            .unwrap_or_else(|| panic!("no line for {pid}\n{out}"))
    };
    assert_eq!(row_of(init)[0], "root", "{out}");
    assert_eq!(row_of(init)[7..], ["sleep", "120"], "{out}");
    assert_eq!(row_of(exec)[7..], ["sleep", "99"], "{out}");
    for row in &rows {
        let pid: i64 = row[1].parse().expect("pid column");
        assert!(pids.contains(&pid), "{pid} is not in the container\n{out}");
    }

    // Arguments after the id go to ps (`runc ps <id> -o pid,args`).
    let out = rt.exec(&["ps", &id, "-o", "pid,args"]);
    out.ok();
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["PID", "COMMAND"], "{out}");
    let listed: Vec<&str> = lines.collect();
    assert_eq!(listed.len(), 2, "{out}");
    for (pid, args) in [(init, "sleep 120"), (exec, "sleep 99")] {
        assert!(
            listed
                .iter()
                .any(|l| l.trim_start().starts_with(&format!("{pid} {args}"))),
            "{out}"
        );
    }

    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

/// runc (1.1.5 and main) does not refuse `ps` on a stopped container: it lists the
/// cgroup's processes, which are none. `ps` of an unknown container fails.
#[test]
fn ps_stopped_and_unknown() {
    let rt = Runtime::new();
    let id = unique_id("ps-stopped");
    let bundle = sleeping_bundle();
    let before = rt.leaks(&id, &bundle);
    let (_, exec) = start_with_exec(&rt, &id, &bundle);
    // SAFETY: kill(2) on the process this test exec'd into its container.
    unsafe { libc::kill(exec as libc::pid_t, libc::SIGKILL) };
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped");
    assert!(
        wait_until(STATE_TIMEOUT, || ps_json(&rt, "--format", &id).is_empty()),
        "a stopped container has no processes: {:?}",
        ps_json(&rt, "--format", &id)
    );
    let out = rt.exec(&["ps", &id]);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 1, "only the header\n{out}");

    rt.delete(&id).ok();
    rt.exec(&["ps", &id])
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.exec(&["ps", "--format", "json", &unique_id("ps-never")])
        .fails()
        .stderr_mentions(&["does not exist"]);
    rt.assert_nothing_left(&id, &bundle, &before);
}
