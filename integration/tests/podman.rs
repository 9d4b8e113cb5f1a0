//! podman 4.3 with conmon, `--runtime <runtime under test>`: conmon calls
//! `create`/`exec` with `--log-format=json --log`, podman itself calls `start`,
//! `kill`, `delete --force` and `state` without `--root`, and `podman info` shows
//! the runtime's `--version`.
//!
//! Each test has its own storage root, runroot, containers.conf and cgroup parent.

use std::time::{Duration, Instant};

use berth_integration::{Cmd, Podman, Pty, STATE_TIMEOUT, TICKER};

const T: Duration = Duration::from_secs(30);

fn podman() -> Podman {
    let p = Podman::new();
    p.load_image();
    p
}

/// Starts a detached container named `name` running [`TICKER`].
fn start_ticker(p: &Podman, name: &str) {
    p.run(&["-d", "--name", name], &["sh", "-c", TICKER])
        .output()
        .ok();
    wait_for_log(p, name, "ticker-started");
}

fn logs(p: &Podman, name: &str) -> String {
    let out = p.podman(["logs", name]).output();
    format!("{}{}", out.stdout, out.stderr)
}

#[track_caller]
fn wait_for_log(p: &Podman, name: &str, needle: &str) {
    let found = berth_integration::wait_until(T, || logs(p, name).contains(needle));
    assert!(
        found,
        "{needle:?} never showed in the logs of {name}:\n{}",
        logs(p, name)
    );
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let p = podman();
    p.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "echo hello from the container; grep Seccomp: /proc/self/status; exit 3",
        ],
    )
    .output()
    .exits(3)
    .stdout_has("hello from the container")
    // podman's default seccomp profile (mode 2: filter).
    .stdout_has("Seccomp:\t2");
    p.run(&["--rm"], &["true"]).output().exits(0);
    // podman reads the runtime's JSON error (`--log-format=json`) and maps it.
    p.run(&["--rm"], &["nosuchcmd"])
        .output()
        .exits(127)
        .stderr_has("executable file not found");
}

#[test]
fn run_with_a_tty() {
    let p = podman();
    let pty = Pty::new(33, 99);
    let podman = p.run(&["--rm", "-it"], &["sh"]).spawn_on(&pty);
    pty.close_slave();
    pty.expect("# ", T);
    pty.send("tty; stty size; echo answer=$((6*7))\n");
    let seen = pty.expect("answer=42", T);
    assert!(
        seen.contains("/dev/pts/0"),
        "tty did not name the console pty:\n{seen}"
    );
    assert!(
        seen.contains("33 99"),
        "the container's terminal is not 33x99:\n{seen}"
    );
    pty.send("exit 9\n");
    let out = podman.wait_for_exit(T);
    assert_eq!(
        out.status.code(),
        Some(9),
        "{out}\n--- terminal ---\n{}",
        pty.seen()
    );
}

#[test]
fn exec_runs_in_the_container() {
    let p = podman();
    start_ticker(&p, "ex");
    p.podman([
        "exec",
        "ex",
        "sh",
        "-c",
        "echo exec-says-hi; tr '\\0' ' ' </proc/1/cmdline; exit 4",
    ])
    .output()
    .exits(4)
    .stdout_has("exec-says-hi")
    .stdout_has("tick-");
    p.podman([
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "-e",
        "GREETING=ahoy",
        "ex",
    ])
    .args(["sh", "-c", "id -u; pwd; echo $GREETING"])
    .output()
    .exits(0)
    .stdout_has("1000\n/tmp\nahoy");
    p.podman(["exec", "ex", "nosuchcmd"]).output().exits(127);

    let pty = Pty::new(24, 80);
    let exec = p.podman(["exec", "-it", "ex", "sh"]).spawn_on(&pty);
    pty.close_slave();
    pty.expect("# ", T);
    pty.send("tty; echo answer=$((6*7))\n");
    let seen = pty.expect("answer=42", T);
    assert!(
        seen.contains("/dev/pts/"),
        "tty did not name a pty:\n{seen}"
    );
    pty.send("exit 8\n");
    let out = exec.wait_for_exit(T);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{out}\n--- terminal ---\n{}",
        pty.seen()
    );
}

#[test]
fn stop_sends_sigterm_then_sigkill() {
    let p = podman();
    start_ticker(&p, "polite");
    let started = Instant::now();
    p.podman(["stop", "-t", "20", "polite"]).output().ok();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "podman stop waited for its timeout: SIGTERM was not delivered"
    );
    assert_eq!(p.inspect("polite", "{{.State.ExitCode}}"), "42");
    assert!(logs(&p, "polite").contains("got-sigterm"));

    p.run(
        &["-d", "--name", "stubborn"],
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    )
    .output()
    .ok();
    wait_for_log(&p, "stubborn", "ready");
    p.podman(["stop", "-t", "1", "stubborn"]).output().ok();
    assert_eq!(p.inspect("stubborn", "{{.State.ExitCode}}"), "137");
}

#[test]
fn kill_delivers_signals() {
    let p = podman();
    start_ticker(&p, "term");
    p.podman(["kill", "--signal", "TERM", "term"]).output().ok();
    let stopped = berth_integration::wait_until(STATE_TIMEOUT, || {
        p.inspect("term", "{{.State.Status}}") == "exited"
    });
    assert!(
        stopped,
        "the container did not exit on SIGTERM:\n{}",
        logs(&p, "term")
    );
    assert_eq!(p.inspect("term", "{{.State.ExitCode}}"), "42");

    // podman kill's default signal is SIGKILL.
    start_ticker(&p, "nine");
    p.podman(["kill", "nine"]).output().ok();
    let stopped = berth_integration::wait_until(STATE_TIMEOUT, || {
        p.inspect("nine", "{{.State.Status}}") == "exited"
    });
    assert!(stopped, "the container did not exit on SIGKILL");
    assert_eq!(p.inspect("nine", "{{.State.ExitCode}}"), "137");
}

#[test]
fn rm_removes_the_container_its_state_and_cgroup() {
    let p = podman();
    start_ticker(&p, "gone");
    let id = p.inspect("gone", "{{.Id}}");
    let pid = p.inspect("gone", "{{.State.Pid}}");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    assert!(
        cgroup.contains(p.scratch().name()),
        "init {pid} is not under the cgroup parent /{}:\n{cgroup}",
        p.scratch().name()
    );
    // podman runs the runtime without --root: its state is in the default root.
    let runtime = berth_integration::runtime_bin();
    let state = Cmd::new(&runtime, p.scratch().path())
        .args(["state", &id])
        .output();
    state.ok().stdout_has("\"running\"");

    p.podman(["rm", "--force", "--time", "0", "gone"])
        .output()
        .ok();
    let listed = p.podman(["ps", "-a", "--format", "{{.Names}}"]).output();
    assert!(!listed.stdout.contains("gone"), "still listed\n{listed}");
    assert!(
        berth_integration::wait_until(STATE_TIMEOUT, || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()),
        "init {pid} survived podman rm --force"
    );
    let state = Cmd::new(&runtime, p.scratch().path())
        .args(["state", &id])
        .output();
    assert!(
        !state.success(),
        "the runtime still knows the container\n{state}"
    );
    state.stderr_has("does not exist");

    // A stopped container is removed without --force.
    p.run(&["--name", "done"], &["true"]).output().ok();
    p.podman(["rm", "done"]).output().ok();
}

#[test]
fn info_shows_the_runtime_version() {
    let p = podman();
    let runtime = berth_integration::runtime_bin();
    let version = Cmd::new(&runtime, p.scratch().path())
        .arg("--version")
        .output();
    version.ok();
    let first = version
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let info = p
        .podman([
            "info",
            "--format",
            "{{.Host.OCIRuntime.Path}}\n{{.Host.OCIRuntime.Version}}",
        ])
        .output();
    info.ok()
        .stdout_has(&runtime.display().to_string())
        .stdout_has(&first);
}
