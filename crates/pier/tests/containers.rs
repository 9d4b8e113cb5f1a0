//! pier's containers end to end: real containers through the monitor and
//! the runtime (berth by default; `PIER_TEST_RUNTIME=runc` for the control
//! run), on a busybox image built locally by hack/mkimage.sh and copied
//! into a private pier root with skopeo. Each test has its own root and
//! checks that what it removes leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::containers::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let p = Pier::new();
    let out = p.run(&["--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // --rm removed it.
    assert_eq!(p.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_missing_command_exits_127_and_a_bad_image_125() {
    let p = Pier::new();
    let out = p.run(&["--rm", IMAGE, "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let out = p.run(&["--rm", "no-such-image-here.invalid/x"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = p.run(&["--rm", "--memory", "lots", IMAGE, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("\"lots\""), "{out:?}");
    let out = p.run(&["--rm", "--restart", "always", IMAGE, "true"]);
    assert!(text(&out.stderr).contains("--restart and --rm"), "{out:?}");
    p.run_ok(&["-d", "--name", "taken", IMAGE, "sleep", "60"]);
    let out = p.run(&["--name", "taken", IMAGE, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("already in use"), "{out:?}");
    assert_eq!(p.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn run_options_reach_the_container() {
    let p = Pier::new();
    let env_file = p.root().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n").unwrap();
    let script = "echo $FOO $FROM_FILE $HOSTNAME; pwd; id -u; id -g; \
                  touch /x 2>/dev/null && echo rw || echo ro; \
                  grep CapEff /proc/self/status";
    let out = p.run_ok(&[
        "--rm",
        "-e",
        "FOO=bar",
        "--env-file",
        env_file.to_str().unwrap(),
        "-h",
        "myhost",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--read-only",
        "--cap-drop",
        "ALL",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bar yes myhost");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1000");
    assert_eq!(lines[4], "ro");
    assert_eq!(lines[5].split_whitespace().nth(1), Some("0000000000000000"));
    // --entrypoint replaces the image's and drops its Cmd.
    assert_eq!(
        p.run_ok(&["--rm", "--entrypoint", "echo", IMAGE, "a", "b"]),
        "a b"
    );
}

#[test]
fn a_terminal_comes_through_the_console_socket() {
    let p = Pier::new();
    let out = p.run_ok(&["--rm", "-t", IMAGE, "tty"]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn detached_containers_log_exec_stop_and_leave_nothing() {
    let p = Pier::new();
    let id = p.run_ok(&[
        "-d",
        "--name",
        "ticker",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    assert_eq!(id.len(), 64);
    // pier has exited; the monitor keeps the container and its log.
    let v = p.wait_for("ticker", Duration::from_secs(10), |v| {
        v["State"]["Status"] == "running"
    });
    assert!(v["State"]["Pid"].as_i64().unwrap() > 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.ok(&["logs", "ticker"]).contains("started") {
        assert!(Instant::now() < deadline, "no log");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "ticker"]),
        "running /ticker\n"
    );
    let out = p.out(&["inspect", "-f", "{{range .Args}}{{end}}", "ticker"]);
    assert!(
        text(&out.stderr).contains("not supported by pier"),
        "{out:?}"
    );
    let ps: Value = serde_json::from_str(p.ok(&["ps", "--format", "json"]).trim()).unwrap();
    assert_eq!(ps["Names"], "ticker");
    assert_eq!(ps["State"], "running");

    let out = p.out(&["exec", "-e", "X=1", "ticker", "sh", "-c", "echo $X; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "1\n");
    let top = p.ok(&["top", "ticker"]);
    assert!(top.contains("while true"), "{top}");

    p.ok(&["stop", "-t", "10", "ticker"]);
    let v = p.inspect("ticker");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0, "the TERM trap ran: {v:#}");
    assert!(p.ok(&["logs", "ticker"]).contains("bye"));
    let out = p.out(&["exec", "ticker", "true"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not running"), "{out:?}");

    // Start again; then rm -f while running.
    p.ok(&["start", "ticker"]);
    p.wait_for("ticker", Duration::from_secs(10), |v| {
        v["State"]["Status"] == "running"
    });
    let out = p.out(&["rm", "ticker"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("force remove"),
        "{out:?}"
    );
    p.ok(&["rm", "-f", "ticker"]);
    assert_eq!(p.leftovers(&id), Vec::<String>::new());
}

#[test]
fn logs_follow_ends_when_the_container_does() {
    let p = Pier::new();
    p.run_ok(&[
        "-d",
        "--name",
        "counter",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    ]);
    let out = p.out(&["logs", "-f", "counter"]);
    assert_eq!(text(&out.stdout), "1\n2\n3\n");
    assert_eq!(p.ok(&["logs", "--tail", "1", "counter"]), "3\n");
    let ts = p.ok(&["logs", "-t", "counter"]);
    assert!(ts.lines().all(|l| l.contains("Z ")), "{ts}");
    assert_eq!(p.ok(&["wait", "counter"]).trim(), "0");
}

#[test]
fn a_crashing_container_restarts_per_policy() {
    let p = Pier::new();
    p.run_ok(&[
        "-d",
        "--name",
        "crashy",
        "--restart",
        "on-failure:2",
        IMAGE,
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    let v = p.wait_for("crashy", Duration::from_secs(30), |v| {
        v["State"]["Status"] == "exited" && v["RestartCount"] == 2
    });
    assert_eq!(v["State"]["ExitCode"], 4);
    // The monitor is done: nothing restarts it any more.
    assert_eq!(p.ok(&["wait", "crashy"]).trim(), "4");
    assert_eq!(p.ok(&["logs", "crashy"]), "run\nrun\nrun\n");
}

#[test]
fn a_failing_health_check_turns_unhealthy() {
    let p = Pier::new();
    p.run_ok(&[
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "test -e /healthy",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        IMAGE,
        "sleep",
        "60",
    ]);
    let v = p.wait_for("sick", Duration::from_secs(20), |v| {
        v["State"]["Health"]["Status"] == "unhealthy"
    });
    assert!(v["State"]["Health"]["FailingStreak"].as_u64().unwrap() >= 2);
    assert!(p.ok(&["ps"]).contains("(unhealthy)"));
    p.ok(&["exec", "sick", "touch", "/healthy"]);
    p.wait_for("sick", Duration::from_secs(20), |v| {
        v["State"]["Health"]["Status"] == "healthy"
    });
    p.ok(&["rm", "-f", "sick"]);
}

#[test]
fn a_named_volume_keeps_data_across_containers() {
    let p = Pier::new();
    p.run_ok(&[
        "--rm",
        "-v",
        "data:/data",
        IMAGE,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        p.run_ok(&["--rm", "-v", "data:/data:ro", IMAGE, "cat", "/data/f"]),
        "kept"
    );
    let out = p.run(&["--rm", "-v", "data:/data:ro", IMAGE, "touch", "/data/g"]);
    assert!(!out.status.success(), "read-only volume was writable");
    // A new volume is filled from the image on first use, as Docker does.
    assert!(p
        .run_ok(&["--rm", "-v", "etcvol:/etc", IMAGE, "ls", "/etc"])
        .contains("passwd"));
    let vols = p.ok(&["volume", "ls", "-q"]);
    assert!(vols.contains("data") && vols.contains("etcvol"), "{vols}");
    // In use: refused.
    p.run_ok(&[
        "-d",
        "--name",
        "user",
        "-v",
        "data:/data",
        IMAGE,
        "sleep",
        "60",
    ]);
    let out = p.out(&["volume", "rm", "data"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("in use"),
        "{out:?}"
    );
    p.ok(&["rm", "-f", "user"]);
    p.ok(&["volume", "rm", "data"]);
    // Bind mounts.
    let host = p.root().join("bind");
    std::fs::create_dir_all(&host).unwrap();
    let spec = format!("{}:/mnt", host.display());
    p.run_ok(&[
        "--rm",
        "-v",
        &spec,
        IMAGE,
        "sh",
        "-c",
        "echo hi > /mnt/from-container",
    ]);
    assert_eq!(
        std::fs::read_to_string(host.join("from-container")).unwrap(),
        "hi\n"
    );
    let out = p.run(&[
        "--rm",
        "--mount",
        "type=bind,src=/does/not/exist,dst=/x",
        IMAGE,
        "true",
    ]);
    assert!(text(&out.stderr).contains("does not exist"), "{out:?}");
    assert_eq!(
        p.run_ok(&[
            "--rm",
            "--tmpfs",
            "/scratch",
            IMAGE,
            "sh",
            "-c",
            "grep -c ' /scratch tmpfs' /proc/mounts"
        ]),
        "1"
    );
}

#[test]
fn a_killed_monitor_is_reported_and_rm_cleans_up() {
    let p = Pier::new();
    let id = p.run_ok(&["-d", "--name", "orphan", IMAGE, "sleep", "300"]);
    let v = p.wait_for("orphan", Duration::from_secs(10), |v| {
        v["State"]["Status"] == "running"
    });
    let pid = v["State"]["Pid"].as_i64().unwrap() as i32;
    let state: Value = serde_json::from_slice(
        &std::fs::read(p.root().join("containers").join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let monitor = state["monitor_pid"].as_i64().unwrap() as i32;
    // SAFETY: kill(2) of the monitor this test started.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    let v = p.wait_for("orphan", Duration::from_secs(10), |v| {
        v["State"]["Status"] == "dead"
    });
    assert!(
        v["State"]["Error"].as_str().unwrap().contains("monitor"),
        "{v:#}"
    );
    // The container itself runs on.
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    p.ok(&["rm", "-f", "orphan"]);
    // Gone, or a zombie waiting for the host's init to reap it.
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "container process {pid} survived rm -f"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.leftovers(&id), Vec::<String>::new());
}

#[test]
fn init_pause_and_prune() {
    let p = Pier::new();
    if Path::new("/usr/bin/tini-static").exists() {
        let out = p.run_ok(&["--rm", "--init", IMAGE, "cat", "/proc/1/cmdline"]);
        assert!(out.starts_with("/sbin/docker-init"), "{out:?}");
    }
    p.run_ok(&["-d", "--name", "napper", IMAGE, "sleep", "60"]);
    p.ok(&["pause", "napper"]);
    assert_eq!(p.inspect("napper")["State"]["Status"], "paused");
    p.ok(&["unpause", "napper"]);
    assert_eq!(p.inspect("napper")["State"]["Status"], "running");
    p.run_ok(&["--name", "done", IMAGE, "true"]);
    let out = p.ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed containers: 1"), "{out}");
    assert!(p.out(&["inspect", "done"]).status.code() == Some(1));
    // Images in use cannot be removed.
    let out = p.out(&["rmi", IMAGE]);
    assert!(
        text(&out.stderr).contains("is using its referenced image"),
        "{out:?}"
    );
    p.ok(&["rm", "-f", "napper"]);
}

#[test]
fn an_interactive_terminal_session() {
    let p = Pier::new();
    // script(1) gives pier a terminal; what we type arrives through the
    // attach socket and the container's pty, and the exit code comes back.
    let args = p.run_args(&["-it", "--rm", IMAGE, "sh"]);
    let line = format!(
        "{} --root {} {}",
        env!("CARGO_BIN_EXE_pier"),
        p.root().display(),
        args.join(" ")
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"stty size; echo typed-$((40+2))\nexit 5\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = text(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("typed-42"), "{text}");
}

#[test]
fn ctrl_p_ctrl_q_detaches_and_leaves_it_running() {
    let p = Pier::new();
    let args = p.run_args(&["-it", "--name", "detachable", IMAGE, "sh"]);
    let line = format!(
        "{} --root {} {}",
        env!("CARGO_BIN_EXE_pier"),
        p.root().display(),
        args.join(" ")
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"echo typed-$((1+1))\n").unwrap();
    // The container's answer means pier is attached with its terminal in
    // raw mode; only then can ctrl-q reach it (a cooked terminal takes it
    // as XON).
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("typed-2") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "pier ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    stdin.write_all(b"\x10\x11").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(p.inspect("detachable")["State"]["Status"], "running");
    p.ok(&["rm", "-f", "detachable"]);
}

#[test]
fn attach_to_a_running_container() {
    let p = Pier::new();
    p.run_ok(&[
        "-d",
        "-i",
        "--name",
        "echoer",
        IMAGE,
        "sh",
        "-c",
        "read line; echo got-$line; exit 3",
    ]);
    let mut child = p
        .cmd(&["attach", "echoer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"ping\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "got-ping\n");
    assert_eq!(out.status.code(), Some(3));
}

/// A user network with a subnet of its own (tests run in parallel, each
/// with its own pier root, and must not hand out the same addresses).
fn user_network(p: &Pier, name: &str, third_octet: u8) -> Value {
    let subnet = format!("10.231.{third_octet}.0/24");
    p.ok(&["network", "create", "--subnet", &subnet, name]);
    let v: Value = serde_json::from_str(&p.ok(&["network", "inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let p = Pier::new();
    let net = user_network(&p, "appnet", 11);
    assert_eq!(net["subnet"], "10.231.11.0/24", "{net:#}");
    p.run_ok(&[
        "-d",
        "--network",
        "appnet",
        "--name",
        "server",
        "-h",
        "srv",
        "--network-alias",
        "web",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    for host in ["server", "web"] {
        let url = format!("http://{host}/");
        let out = p.run_ok(&[
            "--rm",
            "--network",
            "appnet",
            IMAGE,
            "sh",
            "-c",
            &format!("for i in $(seq 50); do wget -qO- {url} && exit 0; sleep 0.1; done; exit 1"),
        ]);
        assert_eq!(out, "served-by-srv", "via {host}");
    }
    let v = p.inspect("server");
    let ip = v["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ip.starts_with("10.231.11."), "{v:#}");
    // In use: the network cannot go.
    let out = p.out(&["network", "rm", "appnet"]);
    assert!(!out.status.success(), "{out:?}");
    p.ok(&["rm", "-f", "server"]);
    p.ok(&["network", "rm", "appnet"]);
    assert!(!p.ok(&["network", "ls"]).contains("appnet"));
}

#[test]
fn a_published_port_answers_and_rm_removes_every_device_and_rule() {
    let p = Pier::new();
    let net = user_network(&p, "pubnet", 12);
    let bridge = net["bridge"].as_str().unwrap().to_string();
    let id = p.run_ok(&[
        "-d",
        "--network",
        "pubnet",
        "--name",
        "pub",
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "sh",
        "-c",
        HTTPD,
    ]);
    let ports = p.inspect("pub")["NetworkSettings"]["Ports"].clone();
    let binding = ports[0].as_str().unwrap().to_string();
    let host = binding.split("->").next().unwrap().to_string();
    assert!(host.starts_with("127.0.0.1:"), "{binding}");
    let body = http_get(&host);
    assert!(body.contains("served-by-"), "{body}");
    assert!(p.ok(&["ps"]).contains(&binding));

    let ports_of = |bridge: &str| {
        text(
            &Command::new("ip")
                .args(["-o", "link", "show", "master", bridge])
                .output()
                .unwrap()
                .stdout,
        )
    };
    assert!(!ports_of(&bridge).is_empty(), "no veth on {bridge}");
    let rules = || {
        text(
            &Command::new("nft")
                .args(["list", "table", "ip", "pier"])
                .output()
                .unwrap()
                .stdout,
        )
    };
    assert!(
        rules().contains(&id[..12]),
        "no DNAT rule for the container"
    );
    p.ok(&["rm", "-f", "pub"]);
    assert_eq!(ports_of(&bridge), "", "a veth is left on {bridge}");
    assert!(!rules().contains(&id[..12]), "a rule is left:\n{}", rules());
    assert!(
        std::net::TcpStream::connect(&host).is_err(),
        "{host} still answers"
    );
    assert_eq!(p.leftovers(&id), Vec::<String>::new());
    p.ok(&["network", "rm", "pubnet"]);
}

#[test]
fn stress_concurrent_run_rm_leaves_nothing() {
    let p = Pier::new();
    let total: usize = std::env::var("PIER_STRESS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let parallel = 4;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let out = p.run(&["--rm", IMAGE, "echo", &format!("run-{i}")]);
                if !out.status.success() || text(&out.stdout) != format!("run-{i}\n") {
                    failures.lock().unwrap().push(format!("{i}: {out:?}"));
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed runs, first: {}",
        failures.len(),
        failures[0]
    );
    println!(
        "figure: {total} `pier run --rm`, {parallel} at a time: {secs:.1} s, {:.1} containers/s",
        total as f64 / secs
    );
    assert_eq!(p.ok(&["ps", "-aq"]), "");
    let containers = std::fs::read_dir(p.root().join("containers"))
        .unwrap()
        .count();
    assert_eq!(containers, 1, "only .names.lock is left in containers/");
    let root = p.root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&root), "mounts left under {root}");
}

#[test]
fn confinement_and_limits_follow_docker() {
    let p = Pier::new();
    // Docker's seccomp profile refuses unshare(CLONE_NEWUSER) without
    // CAP_SYS_ADMIN; unconfined allows it.
    let out = p.run(&["--rm", IMAGE, "unshare", "-U", "true"]);
    assert!(
        !out.status.success(),
        "unshare allowed under the default profile: {out:?}"
    );
    p.run_ok(&[
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "unshare",
        "-U",
        "true",
    ]);
    // No mount without --privileged.
    let out = p.run(&["--rm", IMAGE, "mount", "-t", "tmpfs", "t", "/tmp"]);
    assert!(!out.status.success(), "mount allowed: {out:?}");
    p.run_ok(&[
        "--rm",
        "--privileged",
        IMAGE,
        "mount",
        "-t",
        "tmpfs",
        "t",
        "/tmp",
    ]);
    // Masked paths (those this kernel has).
    for masked in ["/proc/keys", "/proc/timer_list", "/proc/kcore"] {
        if Path::new(masked).exists() {
            let cmd = format!("wc -c < {masked}");
            assert_eq!(
                p.run_ok(&["--rm", IMAGE, "sh", "-c", &cmd]),
                "0",
                "{masked}"
            );
        }
    }
    // no-new-privileges.
    let nnp = p.run_ok(&[
        "--rm",
        "--security-opt",
        "no-new-privileges",
        IMAGE,
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(nnp.ends_with('1'), "{nnp}");
    // Limits reach the cgroups (v1 controllers on hybrid hosts, v2 otherwise).
    let script = "if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then \
                    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; \
                  else cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max; fi";
    let out = p.run_ok(&[
        "--rm",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "50000", "20"]
    );
    let out = p.run_ok(&[
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        IMAGE,
        "sh",
        "-c",
        "ulimit -Sn; ulimit -Hn",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["512", "1024"]);
}

#[test]
fn the_copy_snapshotter_works_where_overlayfs_is_not_wanted() {
    let p = Pier::new();
    let v = p.run_args(&[
        "--name",
        "copied",
        IMAGE,
        "sh",
        "-c",
        "echo changed > /etc/motd; cat /etc/motd",
    ]);
    let out = p
        .cmd(&v.iter().map(String::as_str).collect::<Vec<_>>())
        .env("PIER_SNAPSHOTTER", "copy")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "changed\n", "{out:?}");
    let v = p.inspect("copied");
    assert_eq!(v["Driver"], "copy");
    let id = v["Id"].as_str().unwrap().to_string();
    // A private copy: no overlay was mounted, no layer snapshot made.
    assert!(p
        .root()
        .join("containers")
        .join(&id)
        .join("rootfs/bin/busybox")
        .exists());
    let snaps = std::fs::read_dir(p.root().join("snapshots/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(snaps, 0);
    // Its changes survive a restart, as an overlay's upper dir does.
    p.ok(&["start", "copied"]);
    assert_eq!(p.ok(&["wait", "copied"]).trim(), "0");
    assert_eq!(p.ok(&["logs", "copied"]), "changed\nchanged\n");
    p.ok(&["rm", "copied"]);
    assert_eq!(p.leftovers(&id), Vec::<String>::new());
}

#[test]
fn signals_to_a_foreground_run_reach_the_container() {
    let p = Pier::new();
    let args = p.run_args(&[
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    let mut child = p
        .cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Read;
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("ready") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    // SAFETY: kill(2) of the pier process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    stdout.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(9));
    assert!(String::from_utf8_lossy(&seen).contains("got-term"));
}
