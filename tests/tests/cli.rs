//! The command line as callers use it (go-runc, conmon, podman, dockerd): version
//! output, `spec`, logging, flag spellings and `kill --all`.

use std::fs;

use berth_e2e::{
    is_berth, is_rfc3339, unique_id, wait_until, Bundle, Runtime, IDLE, STATE_TIMEOUT,
};
use serde_json::Value;

/// `X.Y.Z` at the start of `s` (anything may follow, e.g. `+ds1` or `-rc.1`).
fn starts_with_semver(s: &str) -> bool {
    let mut parts = s.splitn(3, '.');
    let numeric =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let major = parts.next();
    let minor = parts.next();
    let patch = parts.next().map(|rest| {
        &rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())]
    });
    numeric(major) && numeric(minor) && numeric(patch)
}

#[test]
fn version_output() {
    let rt = Runtime::new();
    // go-runc and Docker parse these lines; berth names itself (Docker accepts
    // `<name> version X`), runc says `runc version`.
    let name = if is_berth() { "berth" } else { "runc" };
    let log = rt.root().join("version.log");
    let log = log.display().to_string();
    for args in [
        &["--version"][..],
        &["-v"][..],
        // podman puts global flags first.
        &[
            "--root",
            "/tmp",
            "--log",
            &log,
            "--log-format",
            "json",
            "--version",
        ][..],
    ] {
        let out = rt.cmd_raw(args).output();
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines.len() >= 3, "{out}");
        let version = lines[0]
            .strip_prefix(&format!("{name} version "))
            .unwrap_or_else(|| panic!("first line {:?} is not `{name} version X.Y.Z`", lines[0]));
        assert!(starts_with_semver(version), "{:?}", lines[0]);
        assert!(lines[1].starts_with("commit:"), "{out}");
        assert!(lines[2].starts_with("spec:"), "{out}");
        assert!(out.stderr.is_empty(), "{out}");
    }
}

#[test]
fn spec_writes_template_and_refuses_to_overwrite() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let out = rt.cmd_raw(&["spec", "--bundle", &path]).output();
    out.ok();
    assert!(out.stderr.is_empty(), "{out}");
    let config_path = dir.path().join("config.json");
    let text = fs::read_to_string(&config_path).expect("config.json written");
    let config: Value = serde_json::from_str(&text).expect("config.json is JSON");
    assert!(config["ociVersion"].is_string());
    assert_eq!(config["process"]["terminal"], true);
    assert_eq!(config["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(config["root"]["path"], "rootfs");

    // runc: "File config.json exists. Remove it first".
    fs::write(&config_path, "{}").expect("overwrite");
    let out = rt.cmd_raw(&["spec", "--bundle", &path]).output();
    out.fails().stderr_mentions(&["exists"]);
    assert_eq!(fs::read_to_string(&config_path).ok().as_deref(), Some("{}"));
}

/// Parses every line of a `--log-format json` log file.
fn json_lines(path: &std::path::Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line {line:?} is not JSON: {e}"))
        })
        .collect()
}

#[test]
fn json_log_on_error_and_plain_stderr() {
    let rt = Runtime::new();
    let id = unique_id("log-error");
    let root = rt.root().display().to_string();
    let spaced = rt.root().join("spaced.log");
    let equals = rt.root().join("equals.log");
    let spaced_arg = spaced.display().to_string();
    let equals_flag = format!("--log={}", equals.display());
    // go-runc uses `--log FILE --log-format json`; conmon and podman the `=` forms.
    let spaced_args = [
        "--root",
        &root,
        "--log",
        &spaced_arg,
        "--log-format",
        "json",
        "state",
        &id,
    ];
    let equals_args = [
        "--root",
        &root,
        &equals_flag,
        "--log-format=json",
        "state",
        &id,
    ];
    for (args, log) in [(&spaced_args[..], &spaced), (&equals_args[..], &equals)] {
        let out = rt.cmd_raw(args).output();
        // The plain message still goes to stderr when the log is a file.
        out.fails().stderr_mentions(&["does not exist"]);
        assert!(
            !out.stderr.trim_start().starts_with('{'),
            "stderr must be plain text\n{out}"
        );
        let entries = json_lines(log);
        let error = entries
            .iter()
            .find(|e| e["level"] == "error")
            .unwrap_or_else(|| panic!("no error entry in {entries:?}\n{out}"));
        assert!(
            error["msg"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")),
            "{error}"
        );
        assert!(error["time"].as_str().is_some_and(is_rfc3339), "{error}");
    }
}

/// go-runc reads `state`, `list` and `ps` JSON from combined stdout and stderr, so a
/// successful command must write nothing to stderr.
#[test]
fn success_writes_nothing_to_stderr() {
    let rt = Runtime::new();
    let id = unique_id("quiet");
    let mut bundle = Bundle::new();
    bundle.sh(IDLE);
    let log = rt.root().join("quiet.log");
    let log_arg = log.display().to_string();
    let bundle_arg = bundle.path().display().to_string();
    rt.track(&id, &bundle);
    bundle.save();
    for args in [
        &["create", "--bundle", &bundle_arg, &id][..],
        &["state", &id][..],
        &["list"][..],
        &["list", "--format", "json"][..],
        &["start", &id][..],
        &["kill", &id, "KILL"][..],
    ] {
        let mut full = vec!["--log", &log_arg, "--log-format", "json"];
        full.extend_from_slice(args);
        let out = rt.exec(&full);
        out.ok();
        assert_eq!(out.stderr, "", "{out}");
    }
    rt.wait_status(&id, "stopped");
    let out = rt.delete(&id);
    out.ok();
    assert_eq!(out.stderr, "", "{out}");
    let errors: Vec<Value> = json_lines(&log)
        .into_iter()
        .filter(|e| e["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "errors logged on success: {errors:?}");
}

#[test]
fn single_dash_and_equals_flag_forms() {
    let rt = Runtime::new();
    let id = unique_id("flag-forms");
    let bundle = Bundle::new();
    bundle.save();
    rt.track(&id, &bundle);
    let root = rt.root().display().to_string();
    let root_eq = format!("--root={root}");
    let root_single_eq = format!("-root={root}");
    let bundle_arg = bundle.path().display().to_string();
    let bundle_eq = format!("--bundle={bundle_arg}");

    // urfave/cli accepts `-flag` like `--flag`; go-runc's restore emits `-no-subreaper`.
    rt.cmd_raw(&["-root", &root, "create", "-bundle", &bundle_arg, &id])
        .output()
        .ok();
    let state: Value = {
        let out = rt.cmd_raw(&[&root_eq, "state", &id]).output();
        out.ok();
        serde_json::from_str(&out.stdout).expect("state JSON")
    };
    assert_eq!(state["status"], "created");

    let out = rt
        .cmd_raw(&[&root_single_eq, "list", "--format=json"])
        .output();
    out.ok();
    let list: Value = serde_json::from_str(&out.stdout).expect("list JSON");
    assert_eq!(list[0]["id"], id.as_str(), "{out}");

    let out = rt
        .cmd_raw(&["--root", &root, "list", "-format", "json"])
        .output();
    out.ok();
    assert!(out.stdout.contains(&id), "{out}");

    let out = rt.cmd_raw(&["--root", &root, "list", "-q"]).output();
    out.ok();
    assert_eq!(out.stdout.trim(), id);

    // Booleans take an optional `=true`.
    rt.cmd_raw(&["--root", &root, "delete", "--force=true", &id])
        .output()
        .ok();
    rt.exec(&["state", &id]).fails();

    // And `--bundle=DIR`, `-force`.
    let id = unique_id("flag-forms-2");
    rt.track(&id, &bundle);
    rt.cmd_raw(&["--root", &root, "create", &bundle_eq, &id])
        .output()
        .ok();
    rt.cmd_raw(&["--root", &root, "delete", "-force", &id])
        .output()
        .ok();
    rt.exec(&["state", &id]).fails();
}

#[test]
fn missing_arguments_are_usage_errors() {
    let rt = Runtime::new();
    for verb in ["state", "start", "delete", "kill", "create"] {
        let out = rt.exec(&[verb]);
        out.fails();
        assert!(!out.stderr.is_empty(), "{out}");
    }
    rt.exec(&["no-such-command"]).fails();
}

/// Without a pid namespace the container's children outlive init, so only
/// `kill --all` reaches them (runc: signalAllProcesses over the cgroup).
#[test]
fn kill_all_signals_every_process() {
    let rt = Runtime::new();
    let id = unique_id("kill-all");
    let mut bundle = Bundle::new();
    bundle
        .remove_namespace("pid")
        .sh(&format!("(trap '' HUP; {IDLE}) & echo child=$!; {IDLE}"));
    let before = rt.leaks(&id, &bundle);
    let out = rt.run_detached(&id, &bundle);
    out.ok();
    rt.wait_status(&id, "running");
    assert!(wait_until(STATE_TIMEOUT, || out
        .stdout_now()
        .contains("child=")));
    let child: u32 = out
        .stdout_now()
        .lines()
        .find_map(|l| l.strip_prefix("child="))
        .and_then(|p| p.trim().parse().ok())
        .expect("child pid");
    let alive = |pid: u32| {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    };
    assert!(alive(child));

    rt.exec(&["kill", "--all", &id, "TERM"]).ok();
    assert!(
        wait_until(STATE_TIMEOUT, || !alive(child)),
        "child {child} survived kill --all"
    );
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}
