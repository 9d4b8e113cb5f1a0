//! containerd 1.6 with `containerd-shim-runc-v2` running the runtime under test, as
//! `ctr run --runc-binary <berth>` sets it up: the shim calls `create`, `start`,
//! `exec --process`, `kill`, `pause`, `resume`, `ps`, `delete` with go-runc's argv,
//! reads the pid files, receives the pty over the console socket and reads stats
//! and OOM events straight from the container's cgroup.
//!
//! Each test has its own containerd (own root, state, sockets, namespace).

use std::time::Duration;

use berth_integration::{
    cri_config, Cmd, Containerd, Cri, Pty, CRI_HANDLER, CTR_IMAGE, STATE_TIMEOUT, TICKER,
};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);

fn containerd() -> Containerd {
    let c = Containerd::start();
    c.import_image();
    c
}

/// The container's cgroup directories, from `/proc/<pid>/cgroup` of its init.
fn cgroup_dirs_of(pid: u64) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let hierarchy = match controllers {
                "" => "unified".to_string(),
                c => c.split(',').find(|c| !c.starts_with("name="))?.to_string(),
            };
            let dir = std::path::Path::new("/sys/fs/cgroup").join(hierarchy);
            Some(dir.join(path.trim_start_matches('/')))
        })
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let c = containerd();
    let out = c
        .run(
            &["--rm"],
            "out",
            &[
                "sh",
                "-c",
                "echo hello from the container; echo on-stderr >&2; exit 3",
            ],
        )
        .output();
    out.exits(3)
        .stdout_has("hello from the container")
        .stderr_has("on-stderr");

    let out = c
        .run(&["--rm"], "zero", &["sh", "-c", "cat /etc/hostname; id"])
        .output();
    out.exits(0).stdout_has("uid=0(root) gid=0(root)");

    // --rm removed both: containerd's records and the runtime's state.
    let left = c.ctr(["containers", "ls", "-q"]).output();
    left.ok();
    assert!(left.stdout.trim().is_empty(), "containers left:\n{left}");
    let state_dir = c.runc_root().join(c.namespace());
    let entries: Vec<_> = std::fs::read_dir(&state_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        entries.is_empty(),
        "runtime state left in {}: {entries:?}",
        state_dir.display()
    );
}

#[test]
fn run_with_a_tty() {
    let c = containerd();
    let pty = Pty::new(37, 111);
    let ctr = c.run(&["--rm", "-t"], "tty", &["sh"]).spawn_on(&pty);
    pty.close_slave();
    // Type at the prompt, as a person would.
    pty.expect("# ", T);
    // The arithmetic is done by the container's shell: the echo of what we type
    // does not contain the answer.
    pty.send("tty; stty size; echo answer=$((6*7))\n");
    let seen = pty.expect("answer=42", T);
    assert!(
        seen.contains("/dev/pts/"),
        "tty did not name a pty:\n{seen}"
    );
    assert!(
        seen.contains("37 111"),
        "the container's terminal is not 37x111:\n{seen}"
    );
    pty.send("exit 5\n");
    let out = ctr.wait_for_exit(T);
    assert_eq!(
        out.status.code(),
        Some(5),
        "ctr run -t did not return the shell's status\n{out}\n--- terminal ---\n{}",
        pty.seen()
    );
}

#[test]
fn exec_runs_in_the_container() {
    let c = containerd();
    let mut init = c.run(&[], "ex", &["sh", "-c", TICKER]).spawn();
    init.wait_for_stdout("ticker-started", T);

    // Same pid namespace (pid 1 is the ticker), own stdout and exit status.
    let out = c
        .exec(
            &[],
            "ex",
            "exec-1",
            &[
                "sh",
                "-c",
                "echo exec-says-hi; tr '\\0' ' ' </proc/1/cmdline; exit 4",
            ],
        )
        .output();
    out.exits(4).stdout_has("exec-says-hi").stdout_has("tick-");

    // The process spec from the shim (`exec --process`): cwd and user.
    let out = c
        .exec(
            &["--cwd", "/tmp", "--user", "1000"],
            "ex",
            "exec-2",
            &["sh", "-c", "pwd; id -u"],
        )
        .output();
    out.exits(0).stdout_has("/tmp\n1000\n");

    // `ctr task ps` asks the runtime (`ps --format json`) for the container's pids.
    let ps = c.ctr(["task", "ps", "ex"]).output();
    ps.ok();
    let pids = ps
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(pids >= 1, "ctr task ps listed no process\n{ps}");

    c.ctr(["task", "kill", "ex"]).output().ok();
    init.wait_for_exit(T).exits(42).stdout_has("got-sigterm");
}

#[test]
fn exec_with_a_tty() {
    let c = containerd();
    let mut init = c.run(&[], "extty", &["sh", "-c", TICKER]).spawn();
    init.wait_for_stdout("ticker-started", T);

    let pty = Pty::new(24, 80);
    let exec = c.exec(&["-t"], "extty", "exec-tty", &["sh"]).spawn_on(&pty);
    pty.close_slave();
    pty.send("tty; echo answer=$((7*6))\n");
    let seen = pty.expect("answer=42", T);
    assert!(
        seen.contains("/dev/pts/"),
        "tty did not name a pty:\n{seen}"
    );
    pty.send("exit 6\n");
    let out = exec.wait_for_exit(T);
    assert_eq!(
        out.status.code(),
        Some(6),
        "ctr task exec -t did not return the shell's status\n{out}\n--- terminal ---\n{}",
        pty.seen()
    );

    c.ctr(["task", "kill", "-s", "SIGKILL", "extty"])
        .output()
        .ok();
    init.wait_for_exit(T).exits(137);
}

#[test]
fn kill_delivers_signals() {
    let c = containerd();
    // SIGTERM (ctr's default) reaches init, which traps it.
    let mut init = c.run(&[], "term", &["sh", "-c", TICKER]).spawn();
    init.wait_for_stdout("ticker-started", T);
    c.ctr(["task", "kill", "term"]).output().ok();
    init.wait_for_exit(T).exits(42).stdout_has("got-sigterm");

    // SIGKILL cannot be trapped: 128 + 9.
    let mut init = c.run(&[], "kill9", &["sh", "-c", TICKER]).spawn();
    init.wait_for_stdout("ticker-started", T);
    c.ctr(["task", "kill", "--signal", "SIGKILL", "kill9"])
        .output()
        .ok();
    init.wait_for_exit(T).exits(137);

    // Killing a stopped task is "not found", which ctr reports as an error that
    // names the process as finished (the shim maps the runtime's "not running").
    let out = c.ctr(["task", "kill", "kill9"]).output();
    assert!(!out.success(), "killing a stopped task succeeded\n{out}");
}

#[test]
fn pause_and_resume() {
    let c = containerd();
    let mut init = c.run(&[], "pr", &["sh", "-c", TICKER]).spawn();
    init.wait_for_stdout("ticker-started", T);
    let ticks = |init: &berth_integration::Running| init.stdout_now().matches("tick-").count();

    c.ctr(["task", "pause", "pr"]).output().ok();
    c.wait_status("pr", "PAUSED");
    assert_eq!(c.runtime_state("pr")["status"], "paused");
    std::thread::sleep(Duration::from_millis(300));
    let frozen_at = ticks(&init);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        ticks(&init),
        frozen_at,
        "the container kept running while paused"
    );

    c.ctr(["task", "resume", "pr"]).output().ok();
    c.wait_status("pr", "RUNNING");
    assert_eq!(c.runtime_state("pr")["status"], "running");
    assert!(
        berth_integration::wait_until(STATE_TIMEOUT, || ticks(&init) > frozen_at + 2),
        "the container did not run again after resume"
    );

    c.ctr(["task", "kill", "pr"]).output().ok();
    init.wait_for_exit(T).exits(42);
}

#[test]
fn metrics_come_from_the_container_cgroup() {
    let c = containerd();
    let limit: u64 = 64 << 20;
    let mut init = c
        .run(
            &["--memory-limit", &limit.to_string()],
            "m",
            &["sh", "-c", TICKER],
        )
        .spawn();
    init.wait_for_stdout("ticker-started", T);

    let out = c.ctr(["task", "metrics", "--format", "json", "m"]).output();
    out.ok();
    let m: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("metrics: {e}\n{out}"));
    // cgroup v1 metrics nest the limit in memory.usage; v2 has memory.usage_limit.
    let memory_limit = m["memory"]["usage"]["limit"]
        .as_u64()
        .or_else(|| m["memory"]["usage_limit"].as_u64());
    assert_eq!(
        memory_limit,
        Some(limit),
        "memory limit in the metrics:\n{out}"
    );
    let usage = m["memory"]["usage"]["usage"]
        .as_u64()
        .or_else(|| m["memory"]["usage"].as_u64())
        .unwrap_or(0);
    assert!(usage > 0, "no memory usage in the metrics:\n{out}");
    let pids = m["pids"]["current"].as_u64().unwrap_or(0);
    assert!(pids >= 1, "no pids in the metrics:\n{out}");

    // The table form names the same numbers.
    let table = c.ctr(["task", "metrics", "m"]).output();
    table.ok().stdout_has(&limit.to_string());

    c.ctr(["task", "kill", "m"]).output().ok();
    init.wait_for_exit(T).exits(42);
}

#[test]
fn oom_kill_is_reported() {
    let c = containerd();
    let events = c.events();
    // The shell keeps 200 MiB of output in a variable; the limit is 32 MiB.
    let out = c
        .run(
            &["--memory-limit", &(32u64 << 20).to_string()],
            "oom",
            &[
                "sh",
                "-c",
                "x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived",
            ],
        )
        .output();
    assert!(
        !out.stdout.contains("survived"),
        "the memory limit was not enforced\n{out}"
    );
    out.exits(137);
    let oom = events.find("/tasks/oom", "oom", STATE_TIMEOUT);
    assert!(
        oom.is_some(),
        "no /tasks/oom event for the container:\n{}",
        events.dump()
    );
    let exit = events
        .find("/tasks/exit", "oom", STATE_TIMEOUT)
        .unwrap_or_else(|| panic!("no /tasks/exit event:\n{}", events.dump()));
    assert_eq!(exit["exit_status"], 137, "exit event: {exit}");
}

#[test]
fn delete_removes_the_task_state_and_cgroup() {
    let c = containerd();
    c.run(&["-d"], "del", &["sh", "-c", TICKER]).output().ok();
    c.wait_status("del", "RUNNING");
    let state = c.runtime_state("del");
    assert_eq!(state["status"], "running");
    let pid = state["pid"].as_u64().expect("running container has a pid");
    let cgroups = cgroup_dirs_of(pid);
    assert!(
        cgroups
            .iter()
            .any(|d| d.to_string_lossy().contains(c.namespace())),
        "init is not in a cgroup under /{}: {cgroups:?}",
        c.namespace()
    );

    // A running task is not deleted without --force.
    let refused = c.ctr(["task", "delete", "del"]).output();
    assert!(!refused.success(), "deleted a running task\n{refused}");
    assert_eq!(c.task_status("del").as_deref(), Some("RUNNING"));

    c.ctr(["task", "delete", "--force", "del"]).output().ok();
    assert_eq!(c.task_status("del"), None);
    assert!(
        berth_integration::wait_until(STATE_TIMEOUT, || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()),
        "init {pid} survived delete --force"
    );
    let state_dir = c.runc_root().join(c.namespace()).join("del");
    assert!(!state_dir.exists(), "{} is left", state_dir.display());
    let left: Vec<_> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left after delete: {left:?}");

    c.ctr(["containers", "delete", "del"]).output().ok();
    let listed = c.ctr(["containers", "ls", "-q"]).output();
    assert!(
        !listed.stdout.contains("del"),
        "container still listed\n{listed}"
    );

    // A task that exited on its own is deleted without --force.
    c.run(&["-d"], "done", &["true"]).output().ok();
    c.wait_status("done", "STOPPED");
    c.ctr(["task", "delete", "done"]).output().ok();
    c.ctr(["containers", "delete", "done"]).output().ok();
}

/// The Kubernetes path: containerd's CRI plugin with a runtime handler
/// (`runtimes.berth`, `runtime_type = "io.containerd.runc.v2"`, `BinaryName` in its
/// options), as a RuntimeClass selects it. The kubelet's calls come from
/// `integration/cri.py`: a host-network pod, a container in it, ExecSync, stop.
#[test]
fn cri_runtime_handler_with_binary_name() {
    let c = Containerd::start_with("cri", true, cri_config);
    let cri = Cri::new(&c);
    let runtime_state = |id: &str| {
        Cmd::new(berth_integration::runtime_bin(), c.scratch().path())
            .arg("--root")
            .arg(cri.runtime_root())
            .args(["state", id])
            .output()
    };
    let sandbox = json!({
        "metadata": {"name": "pod", "uid": "pod-uid-1", "namespace": "default", "attempt": 0},
        "log_directory": c.scratch().mkdir("pod-logs"),
        "linux": {
            "cgroup_parent": format!("/{}", c.scratch().name()),
            // Host network (NODE = 2): no CNI. Own pid namespace (CONTAINER = 1).
            "security_context": {"namespace_options": {"network": 2, "pid": 1, "ipc": 0}},
        },
    });
    let pod = cri.call(
        "RunPodSandbox",
        &json!({"config": sandbox, "runtime_handler": CRI_HANDLER}),
    );
    let pod = pod["pod_sandbox_id"]
        .as_str()
        .expect("pod_sandbox_id")
        .to_string();
    // The sandbox ("pause") container runs under the handler too.
    runtime_state(&pod).ok().stdout_has("\"running\"");

    let created = cri.call(
        "CreateContainer",
        &json!({
            "pod_sandbox_id": pod,
            "config": {
                "metadata": {"name": "app", "attempt": 0},
                "image": {"image": CTR_IMAGE},
                "command": ["sh", "-c", TICKER],
                "log_path": "app.log",
            },
            "sandbox_config": sandbox,
        }),
    );
    let id = created["container_id"]
        .as_str()
        .expect("container_id")
        .to_string();
    cri.call("StartContainer", &json!({"container_id": id}));
    let status =
        |cri: &Cri| cri.call("ContainerStatus", &json!({"container_id": id}))["status"].clone();
    assert_eq!(status(&cri)["state"], 1, "not running: {}", status(&cri));
    // BinaryName and Root came from the handler's options.
    runtime_state(&id).ok().stdout_has("\"running\"");

    let log = c.scratch().join("pod-logs/app.log");
    let logged = berth_integration::wait_until(T, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("stdout F ticker-started"))
    });
    assert!(logged, "no output in the CRI log {}", log.display());

    let exec = cri.call(
        "ExecSync",
        &json!({"container_id": id, "cmd": ["sh", "-c", "echo exec-in-pod; exit 3"], "timeout": 30}),
    );
    assert_eq!(exec["exit_code"], 3, "ExecSync: {exec}");
    assert!(
        exec["stdout"]
            .as_str()
            .is_some_and(|s| s.contains("exec-in-pod")),
        "ExecSync: {exec}"
    );

    // StopContainer sends SIGTERM (the ticker exits 42) before its grace period ends.
    cri.call("StopContainer", &json!({"container_id": id, "timeout": 20}));
    let stopped = status(&cri);
    assert_eq!(stopped["state"], 2, "not exited: {stopped}");
    assert_eq!(stopped["exit_code"], 42, "exit code: {stopped}");

    cri.call("RemoveContainer", &json!({"container_id": id}));
    assert!(
        !cri.runtime_root().join(&id).exists(),
        "runtime state left for {id}"
    );
    cri.call("StopPodSandbox", &json!({"pod_sandbox_id": pod}));
    cri.call("RemovePodSandbox", &json!({"pod_sandbox_id": pod}));
    assert!(
        !cri.runtime_root().join(&pod).exists(),
        "runtime state left for {pod}"
    );
}
