//! dockerd 20.10 with the runtime under test added as `berth`
//! (`--add-runtime berth=<runtime>`, also the default runtime): dockerd hands it to
//! containerd's runc shim as `BinaryName`, with `Root` under its exec root, and
//! maps the runtime's error text to `docker run`'s exit codes.
//!
//! Each test has its own dockerd and containerd (own data root, exec root,
//! sockets and cgroup parent).

use std::time::{Duration, Instant};

use berth_integration::{Cmd, Dockerd, Pty, DOCKER_IMAGE, STATE_TIMEOUT, TICKER};

const T: Duration = Duration::from_secs(30);

fn dockerd() -> Dockerd {
    let d = Dockerd::start();
    d.load_image();
    d
}

/// `docker run --runtime berth --network none FLAGS IMAGE ARGS...`.
fn run(d: &Dockerd, flags: &[&str], args: &[&str]) -> Cmd {
    d.docker(["run", "--runtime", "berth", "--network", "none"])
        .args(flags)
        .arg(DOCKER_IMAGE)
        .args(args)
}

/// Starts a detached container named `name` running [`TICKER`].
fn start_ticker(d: &Dockerd, name: &str, flags: &[&str]) {
    run(
        d,
        &[&["-d", "--name", name], flags].concat(),
        &["sh", "-c", TICKER],
    )
    .output()
    .ok();
    wait_for_log(d, name, "ticker-started");
}

fn logs(d: &Dockerd, name: &str) -> String {
    let out = d.docker(["logs", name]).output();
    format!("{}{}", out.stdout, out.stderr)
}

#[track_caller]
fn wait_for_log(d: &Dockerd, name: &str, needle: &str) {
    let found = berth_integration::wait_until(T, || logs(d, name).contains(needle));
    assert!(
        found,
        "{needle:?} never showed in the logs of {name}:\n{}\n--- dockerd log ---\n{}",
        logs(d, name),
        d.log()
    );
}

#[test]
fn run_exit_codes_match_runc() {
    let d = dockerd();
    run(&d, &["--rm"], &["echo", "hi"])
        .output()
        .exits(0)
        .stdout_has("hi");
    run(&d, &["--rm"], &["sh", "-c", "exit 1"])
        .output()
        .exits(1);
    run(&d, &["--rm"], &["sh", "-c", "exit 3"])
        .output()
        .exits(3);
    // dockerd turns the runtime's create error text into 127 and 126
    // (moby daemon/errors.go): the runtime must fail at create with Go's wording.
    run(&d, &["--rm"], &["nosuchcmd"])
        .output()
        .exits(127)
        .stderr_has("executable file not found");
    run(&d, &["--rm"], &["/etc/passwd"])
        .output()
        .exits(126)
        .stderr_has("permission denied");
    run(&d, &["--rm"], &["/etc"]).output().exits(126);
}

#[test]
fn info_lists_the_runtime() {
    let d = dockerd();
    let runtime = berth_integration::runtime_bin();
    let info = d
        .docker(["info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}"])
        .output();
    info.ok()
        .stdout_has("berth {")
        .stdout_has(&format!("\"berth\":{{\"path\":\"{}\"", runtime.display()));

    // dockerd runs `<default runtime> --version` and keeps its `commit:` line.
    let version = Cmd::new(&runtime, d.containerd().scratch().path())
        .arg("--version")
        .output();
    version.ok();
    let commit = version
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("commit:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no commit: line in --version\n{version}"));
    let info = d
        .docker(["info", "--format", "{{.RuncCommit.ID}}"])
        .output();
    assert_eq!(
        info.stdout.trim(),
        commit,
        "docker info did not parse --version\n{info}"
    );

    // A container run by it says so.
    run(&d, &["--name", "which"], &["true"]).output().ok();
    assert_eq!(d.inspect("which", "{{.HostConfig.Runtime}}"), "berth");
}

#[test]
fn exec_runs_in_the_container() {
    let d = dockerd();
    start_ticker(&d, "ex", &[]);

    d.docker([
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
    d.docker([
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
    // A missing command fails the exec: dockerd 20.10 answers 126 and prints
    // the runtime's error (on stdout).
    let missing = d.docker(["exec", "ex", "nosuchcmd"]).output();
    missing.exits(126);
    assert!(
        format!("{}{}", missing.stdout, missing.stderr).contains("executable file not found"),
        "exec of a missing command\n{missing}"
    );

    // exec -it on a terminal.
    let pty = Pty::new(24, 80);
    let exec = d.docker(["exec", "-it", "ex", "sh"]).spawn_on(&pty);
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
fn run_interactive_with_a_tty() {
    let d = dockerd();
    let pty = Pty::new(30, 100);
    let docker = run(&d, &["--rm", "-it"], &["sh"]).spawn_on(&pty);
    pty.close_slave();
    pty.expect("# ", T);
    pty.send("tty; stty size; echo answer=$((6*7))\n");
    let seen = pty.expect("answer=42", T);
    assert!(
        seen.contains("/dev/pts/0"),
        "tty did not name the console pty:\n{seen}"
    );
    assert!(
        seen.contains("30 100"),
        "the container's terminal is not 30x100:\n{seen}"
    );
    pty.send("exit 7\n");
    let out = docker.wait_for_exit(T);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{out}\n--- terminal ---\n{}",
        pty.seen()
    );
}

#[test]
fn stop_sends_sigterm_then_sigkill() {
    let d = dockerd();
    // The ticker traps SIGTERM and exits 42.
    start_ticker(&d, "polite", &[]);
    let started = Instant::now();
    d.docker(["stop", "-t", "20", "polite"]).output().ok();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "docker stop waited for its timeout: SIGTERM was not delivered"
    );
    assert_eq!(d.inspect("polite", "{{.State.ExitCode}}"), "42");
    assert!(logs(&d, "polite").contains("got-sigterm"));

    // A container that ignores SIGTERM is killed after the timeout: 128 + 9.
    run(
        &d,
        &["-d", "--name", "stubborn"],
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    )
    .output()
    .ok();
    wait_for_log(&d, "stubborn", "ready");
    d.docker(["stop", "-t", "1", "stubborn"]).output().ok();
    assert_eq!(d.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    assert_eq!(d.inspect("stubborn", "{{.State.Status}}"), "exited");
}

#[test]
fn pause_and_unpause() {
    let d = dockerd();
    start_ticker(&d, "pz", &[]);
    let ticks = |d: &Dockerd| logs(d, "pz").matches("tick-").count();

    d.docker(["pause", "pz"]).output().ok();
    assert_eq!(d.inspect("pz", "{{.State.Status}}"), "paused");
    std::thread::sleep(Duration::from_millis(300));
    let frozen_at = ticks(&d);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        ticks(&d),
        frozen_at,
        "the container kept running while paused"
    );
    // A paused container does not take exec.
    let refused = d.docker(["exec", "pz", "true"]).output();
    assert!(
        !refused.success(),
        "exec into a paused container worked\n{refused}"
    );

    d.docker(["unpause", "pz"]).output().ok();
    assert_eq!(d.inspect("pz", "{{.State.Status}}"), "running");
    assert!(
        berth_integration::wait_until(STATE_TIMEOUT, || ticks(&d) > frozen_at + 2),
        "the container did not run again after unpause"
    );
    d.docker(["stop", "pz"]).output().ok();
    assert_eq!(d.inspect("pz", "{{.State.ExitCode}}"), "42");
}

#[test]
fn stats_read_the_container_cgroup() {
    let d = dockerd();
    start_ticker(&d, "st", &["--memory", "64m"]);
    let out = d
        .docker([
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}}|{{.PIDs}}",
            "st",
        ])
        .output();
    out.ok();
    let (mem, pids) = out
        .stdout
        .trim()
        .split_once('|')
        .unwrap_or_else(|| panic!("unexpected stats\n{out}"));
    assert!(
        mem.ends_with("/ 64MiB"),
        "the memory limit is not applied: {mem:?}\n{out}"
    );
    assert!(!mem.starts_with("0B"), "no memory usage: {mem:?}\n{out}");
    let pids: u64 = pids.trim().parse().unwrap_or(0);
    assert!(pids >= 1, "no pids in the stats\n{out}");
    d.docker(["stop", "st"]).output().ok();
}

#[test]
fn read_only_no_caps_no_new_privileges_as_with_runc() {
    let d = dockerd();
    let out = run(
        &d,
        &[
            "--rm",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ],
        &[
            "sh",
            "-c",
            "touch /written 2>&1; echo touch=$?; touch /tmp/written 2>&1; echo tmp=$?; \
             grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp)' /proc/self/status; \
             grep ' / ' /proc/self/mounts",
        ],
    )
    .output();
    out.exits(0)
        .stdout_has("Read-only file system")
        .stdout_has("touch=1")
        // No tmpfs on /tmp with --read-only alone: it is read-only too.
        .stdout_has("tmp=1")
        .stdout_has("CapEff:\t0000000000000000")
        .stdout_has("CapBnd:\t0000000000000000")
        .stdout_has("CapPrm:\t0000000000000000")
        .stdout_has("NoNewPrivs:\t1")
        // Docker's default seccomp profile (mode 2: filter).
        .stdout_has("Seccomp:\t2");
    let root = out
        .stdout
        .lines()
        .find(|l| l.contains(" / "))
        .unwrap_or_else(|| panic!("no / mount\n{out}"));
    assert!(
        root.split_whitespace()
            .nth(3)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "/ is not mounted read-only: {root}"
    );
}
