//! The container commands (`create`, `run`, `start`, `stop`, `kill`, `rm`,
//! `ps`, `logs`, `exec`, `wait`, `inspect`, `top`, `stats`, `prune`), with
//! Docker's flags, messages and output formats.

use crate::container::{Containers, HealthConfig, Record, RestartPolicy, State};
use crate::runtime::{self, Runtime};
use crate::volume::{self, Volumes};
use anyhow::{anyhow, bail, Context, Result};
use pier_image::bundle::{RunConfig, Seccomp, Ulimit};
use pier_image::snapshot::{Image, Snapshotter};
use pier_image::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Everything `pier create`/`run` accept.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Image reference or id.
    pub image: String,
    /// Command and arguments after the image.
    pub cmd: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-e`.
    pub env: Vec<String>,
    /// `--env-file`.
    pub env_file: Vec<PathBuf>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--entrypoint` (one word on the command line; compose gives a
    /// list); `Some(vec![])` clears the image's.
    pub entrypoint: Option<Vec<String>>,
    /// `-h`.
    pub hostname: Option<String>,
    /// `-v`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--tmpfs`.
    pub tmpfs: Vec<String>,
    /// `-p`.
    pub publish: Vec<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--network-alias`.
    pub network_alias: Vec<String>,
    /// More user networks to join (compose); needs a bridge `network`.
    pub extra_networks: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `-m/--memory`.
    pub memory: Option<String>,
    /// `--memory-swap`.
    pub memory_swap: Option<String>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<String>,
    /// `--cpus`.
    pub cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimit: Vec<String>,
    /// `--restart`.
    pub restart: Option<String>,
    /// `--health-cmd`.
    pub health_cmd: Option<String>,
    /// A whole health test (`["CMD", …]`, `["CMD-SHELL", "…"]`), as
    /// compose gives it; wins over `health_cmd`.
    pub health_test: Option<Vec<String>>,
    /// `--health-interval`.
    pub health_interval: Option<String>,
    /// `--health-timeout`.
    pub health_timeout: Option<String>,
    /// `--health-retries`.
    pub health_retries: Option<u32>,
    /// `--health-start-period`.
    pub health_start_period: Option<String>,
    /// `--no-healthcheck`.
    pub no_healthcheck: bool,
    /// `--init`.
    pub init: bool,
    /// `--runtime`.
    pub runtime: Option<String>,
    /// `--rm`.
    pub rm: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-l/--label`.
    pub labels: Vec<String>,
    /// `--sysctl`.
    pub sysctls: Vec<String>,
    /// `--stop-signal`.
    pub stop_signal: Option<String>,
    /// `--stop-timeout`.
    pub stop_timeout: Option<u64>,
}

/// Parses Docker's byte sizes: `512`, `64k`, `100m`, `1g` (binary units).
pub fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("invalid {flag} {s:?}: not a size (e.g. 512m, 1g)"))?;
    if n < 0.0 {
        bail!("invalid {flag} {s:?}: must not be negative");
    }
    Ok((n * mult as f64) as i64)
}

/// Parses Go-style durations: `30s`, `1m30s`, `500ms`, `2h`.
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid {flag} {s:?}: not a duration (e.g. 30s, 1m30s, 500ms)");
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        total += v * match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read env file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, _) = line.split_once('=').unwrap_or((line, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("{}:{}: invalid variable name {k:?}", path.display(), n + 1);
        }
        // `KEY` alone takes the value from pier's environment, as Docker.
        if !line.contains('=') {
            if let Ok(v) = std::env::var(k) {
                out.push(format!("{k}={v}"));
            }
            continue;
        }
        out.push(line.to_string());
    }
    Ok(out)
}

fn env_arg(e: &str) -> Result<Option<String>> {
    match e.split_once('=') {
        Some(("", _)) => bail!("invalid environment variable {e:?}: empty name"),
        Some(_) => Ok(Some(e.to_string())),
        None => Ok(std::env::var(e).ok().map(|v| format!("{e}={v}"))),
    }
}

/// Where `pier` finds the runtime by default.
pub const DEFAULT_RUNTIME: &str = "berth";

/// `pier create`: records the container and prepares what a start needs.
/// `pull` fetches an image that is not in the store.
pub fn create(root: &Path, o: &CreateOptions, pull: &dyn Fn(&str) -> Result<()>) -> Result<Record> {
    let store = Store::open(root)?;
    let image = match Image::resolve(&store, &o.image) {
        Ok(i) => i,
        Err(pier_image::snapshot::Error::NoSuchImage(_)) => {
            eprintln!("Unable to find image '{}' locally", o.image);
            pull(&o.image)?;
            Image::resolve(&store, &o.image)?
        }
        Err(e) => return Err(e.into()),
    };
    let cs = Containers::open(root)?;
    let id = crate::names::new_id()?;
    let name = match &o.name {
        Some(n) => n.clone(),
        None => crate::names::random_name()?,
    };
    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(read_env_file(f)?);
    }
    for e in &o.env {
        env.extend(env_arg(e)?);
    }
    let mut run = RunConfig {
        entrypoint: o.entrypoint.clone(),
        cmd: o.cmd.clone(),
        env,
        workdir: o.workdir.clone(),
        user: o.user.clone(),
        hostname: o.hostname.clone().unwrap_or_else(|| id[..12].to_string()),
        tty: o.tty,
        stdin: o.interactive,
        read_only: o.read_only,
        privileged: o.privileged,
        cap_add: o.cap_add.clone(),
        cap_drop: o.cap_drop.clone(),
        init: o.init,
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        ..Default::default()
    };
    for s in &o.security_opt {
        match s.split_once(['=', ':']) {
            Some(("seccomp", "unconfined")) => run.seccomp = Seccomp::Unconfined,
            Some(("seccomp", path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read seccomp profile {path}"))?;
                let v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("seccomp profile {path} is not valid JSON"))?;
                run.seccomp = Seccomp::Profile(v);
            }
            Some(("no-new-privileges", v)) => run.no_new_privileges = v != "false",
            None if s == "no-new-privileges" => run.no_new_privileges = true,
            Some(("apparmor" | "label", _)) => {
                bail!("invalid --security-opt {s:?}: no AppArmor or SELinux is active on this host")
            }
            _ => bail!("invalid --security-opt {s:?}: want seccomp=PROFILE|unconfined or no-new-privileges"),
        }
    }
    if let Some(m) = &o.memory {
        run.memory = Some(parse_bytes("--memory", m)?);
    }
    if let Some(m) = &o.memory_swap {
        run.memory_swap = Some(if m == "-1" {
            -1
        } else {
            parse_bytes("--memory-swap", m)?
        });
    }
    if let Some(m) = &o.memory_reservation {
        run.memory_reservation = Some(parse_bytes("--memory-reservation", m)?);
    }
    if let Some(c) = &o.cpus {
        let v: f64 = c
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && v.is_finite())
            .ok_or_else(|| anyhow!("invalid --cpus {c:?}: want a positive number"))?;
        run.cpus = Some(v);
    }
    run.pids_limit = o.pids_limit;
    for u in &o.ulimit {
        run.ulimits.push(Ulimit::parse(u)?);
    }
    for s in &o.sysctls {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --sysctl {s:?}: want KEY=VALUE"))?;
        run.sysctls.insert(k.into(), v.into());
    }
    let cfg = &image.config["config"];
    let mut labels: BTreeMap<String, String> = cfg["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.into(), v.into());
    }
    run.labels = labels.clone();
    if run.stop_signal.is_none() {
        run.stop_signal = cfg["StopSignal"].as_str().map(String::from);
    }
    // Validate the command now, as Docker does at create.
    pier_image::bundle::command(&image.config, &run)?;
    pier_image::bundle::capabilities(&run)?;

    let restart = match &o.restart {
        Some(r) => RestartPolicy::parse(r).map_err(|e| anyhow!(e))?,
        None => RestartPolicy {
            name: "no".into(),
            max_retries: 0,
        },
    };
    if o.rm && restart.name != "no" {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    let health = health_config(o, cfg)?;
    let network = o.network.clone().unwrap_or_else(|| "bridge".into());
    if network.is_empty() {
        bail!("invalid --network \"\": want none, host, bridge or a network name");
    }
    if !o.extra_networks.is_empty()
        && (matches!(network.as_str(), "host" | "none") || network.starts_with("container:"))
    {
        bail!("a container in network mode {network:?} cannot join other networks");
    }
    if (network == "host" || network == "none") && !o.publish.is_empty() {
        eprintln!("WARNING: Published ports are discarded when using {network} network mode");
    }
    let runtime_name = o.runtime.clone().unwrap_or_else(|| DEFAULT_RUNTIME.into());
    let runtime_bin = runtime::locate(&runtime_name)?;

    // Volumes: named ones are made now (and filled on first start).
    let vols = Volumes::open(root)?;
    let mut margs = Vec::new();
    for v in &o.volumes {
        margs.push(volume::parse_volume(v)?);
    }
    for m in &o.mounts {
        margs.push(volume::parse_mount(m)?);
    }
    for t in &o.tmpfs {
        margs.push(volume::parse_tmpfs(t)?);
    }
    let mut volumes = Vec::new();
    let mut anonymous = Vec::new();
    for m in &margs {
        let spec = match m.kind.as_str() {
            "volume" => {
                let name = (!m.source.is_empty()).then_some(m.source.as_str());
                let (v, _) = vols.create(name, BTreeMap::new())?;
                if name.is_none() {
                    anonymous.push(v.name.clone());
                }
                volumes.push(v.name.clone());
                let mut s = m.to_spec(&v.mountpoint);
                if m.nocopy {
                    s.options.push("nocopy".into());
                }
                s
            }
            "bind" => {
                let src = PathBuf::from(&m.source);
                if !src.exists() {
                    if m.create_source {
                        std::fs::create_dir_all(&src).with_context(|| {
                            format!("failed to create bind source {}", src.display())
                        })?;
                    } else {
                        bail!("invalid mount config for type \"bind\": bind source path does not exist: {}", src.display());
                    }
                }
                m.to_spec(&src)
            }
            _ => m.to_spec(Path::new("")),
        };
        run.mounts.push(spec);
    }
    for v in image.config["config"]["Volumes"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let target = v.0;
        if run.mounts.iter().any(|m| &m.target == target) {
            continue;
        }
        let (vol, _) = vols.create(None, BTreeMap::new())?;
        anonymous.push(vol.name.clone());
        volumes.push(vol.name.clone());
        run.mounts.push(pier_image::bundle::MountSpec {
            kind: "volume".into(),
            source: vol.mountpoint.display().to_string(),
            target: target.clone(),
            readonly: false,
            options: Vec::new(),
        });
    }

    let rec = Record {
        id: id.clone(),
        name,
        image: o.image.clone(),
        image_name: image.name.clone(),
        image_id: image.id.clone(),
        created: crate::time::now(),
        runtime: runtime_bin.display().to_string(),
        run,
        network,
        extra_networks: o.extra_networks.clone(),
        aliases: o.network_alias.clone(),
        publish: o.publish.clone(),
        restart,
        health,
        auto_remove: o.rm,
        snapshotter: match Snapshotter::detect() {
            Snapshotter::Overlay => "overlay".into(),
            Snapshotter::Copy => "copy".into(),
        },
        volumes,
        anonymous_volumes: anonymous,
        labels,
    };
    let mut rec = rec;
    let mut tries = 0;
    loop {
        match cs.create(&rec) {
            Ok(()) => return Ok(rec),
            // A generated name another create took meanwhile: draw again.
            Err(crate::container::Error::NameInUse { .. }) if o.name.is_none() && tries < 100 => {
                tries += 1;
                let n = crate::names::random_name()?;
                rec.name = if tries > 20 { format!("{n}{tries}") } else { n };
            }
            Err(e) => {
                for v in &rec.anonymous_volumes {
                    let _ = vols.remove(v, &[]);
                }
                return Err(e.into());
            }
        }
    }
}

fn health_config(o: &CreateOptions, cfg: &Value) -> Result<Option<HealthConfig>> {
    if o.no_healthcheck {
        return Ok(None);
    }
    let image = &cfg["Healthcheck"];
    let image_test: Vec<String> = image["Test"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let test = match (&o.health_test, &o.health_cmd) {
        (Some(t), _) if t.first().map(String::as_str) == Some("NONE") => return Ok(None),
        (Some(t), _) if !t.is_empty() => {
            if !matches!(t[0].as_str(), "CMD" | "CMD-SHELL") || t.len() < 2 {
                bail!(
                    "invalid health test {t:?}: want [\"CMD\", ARGS…] or [\"CMD-SHELL\", COMMAND]"
                );
            }
            t.clone()
        }
        (_, Some(c)) => vec!["CMD-SHELL".to_string(), c.clone()],
        _ if !image_test.is_empty() && image_test[0] != "NONE" => image_test,
        _ => return Ok(None),
    };
    let ns = |v: &Value| v.as_u64().filter(|n| *n > 0).map(|n| n / 1_000_000);
    let dur = |flag: &str, v: &Option<String>, img: Option<u64>, def: u64| -> Result<u64> {
        match v {
            Some(s) => Ok(parse_duration(flag, s)?.as_millis() as u64),
            None => Ok(img.unwrap_or(def)),
        }
    };
    Ok(Some(HealthConfig {
        test,
        interval_ms: dur(
            "--health-interval",
            &o.health_interval,
            ns(&image["Interval"]),
            30_000,
        )?,
        timeout_ms: dur(
            "--health-timeout",
            &o.health_timeout,
            ns(&image["Timeout"]),
            30_000,
        )?,
        retries: o
            .health_retries
            .or_else(|| image["Retries"].as_u64().map(|r| r as u32))
            .unwrap_or(3),
        start_period_ms: dur(
            "--health-start-period",
            &o.health_start_period,
            ns(&image["StartPeriod"]),
            0,
        )?,
    }))
}

/// Starts the monitor of `rec`; with `attach`, attaches to it and returns
/// the container's exit code, else waits until it runs (or failed).
pub fn start(root: &Path, rec: &Record, attach: bool) -> Result<i32> {
    let cs = Containers::open(root)?;
    // Under the container's lock from the check to the recorded monitor
    // pid, so two concurrent starts make one monitor.
    let lock = cs.lock(&rec.id)?;
    let st = cs.observed(&rec.id)?;
    let monitor_alive = crate::container::process_alive(st.monitor_pid, st.monitor_start);
    if matches!(st.status.as_str(), "running" | "restarting" | "paused")
        || (st.status == "starting" && monitor_alive)
    {
        drop(lock);
        if attach {
            return attach_to(root, rec);
        }
        return Ok(0);
    }
    let exe = std::env::current_exe().context("cannot find the pier binary")?;
    let log = std::fs::File::create(cs.dir(&rec.id).join("monitor.log"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root").arg(root).arg("__monitor").arg(&rec.id);
    if attach {
        cmd.arg("--wait-attach");
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid(2) only, between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .context("failed to start the container's monitor")?;
    let monitor_pid = child.id() as i32;
    let mut st = st;
    st.status = "starting".into();
    st.error.clear();
    st.monitor_pid = monitor_pid;
    st.monitor_start = crate::container::start_time(monitor_pid).unwrap_or(0);
    cs.save_state(&rec.id, &st)?;
    drop(lock);
    // The monitor is not ours to wait for: a thread reaps it if pier lives
    // longer than it (a foreground run).
    if attach {
        crate::client::block_signals();
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = child.wait();
        let _ = done_tx.send(());
    });
    if attach {
        let sock = cs.run_dir(&rec.id).join("attach.sock");
        let conn = crate::client::connect(&sock, || {
            crate::container::start_time(monitor_pid).is_some()
        })
        .with_context(|| format!("cannot attach to container {}", rec.name))?;
        let (id, bin, run_root) = (rec.id.clone(), rec.runtime.clone(), cs.run_root());
        let code = crate::client::attach(conn, rec.run.stdin, rec.run.tty, move |sig| {
            let rt = Runtime::new(Path::new(&bin), &run_root);
            let _ = rt.kill(&id, &sig.to_string(), false);
        })?;
        let Some(code) = code else {
            return Ok(0); // the user detached; the container runs on
        };
        // Return once the monitor has finished (cleanup, --rm), as `docker
        // run` returns once the container is gone; unless a restart policy
        // keeps it going.
        if rec.restart.name == "no" {
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        }
        return Ok(code);
    }
    // Detached: report the outcome of the start, as Docker does.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = cs.state(&rec.id)?;
        match st.status.as_str() {
            "running" | "restarting" => return Ok(0),
            "exited" if !st.error.is_empty() => bail!("{}", st.error),
            "exited" => return Ok(0),
            _ => {}
        }
        if crate::container::start_time(monitor_pid).is_none() && st.status == "starting" {
            let log =
                std::fs::read_to_string(cs.dir(&rec.id).join("monitor.log")).unwrap_or_default();
            bail!("the container's monitor failed: {}", log.trim());
        }
        if Instant::now() > deadline {
            bail!("container {} did not start within 120 s", rec.name);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `pier attach`.
pub fn attach_to(root: &Path, rec: &Record) -> Result<i32> {
    let cs = Containers::open(root)?;
    let st = cs.observed(&rec.id)?;
    if st.status != "running" {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let sock = cs.run_dir(&rec.id).join("attach.sock");
    let conn = crate::client::connect(&sock, || false)?;
    let (id, bin, run_root) = (rec.id.clone(), rec.runtime.clone(), cs.run_root());
    let code = crate::client::attach(conn, rec.run.stdin, rec.run.tty, move |sig| {
        let rt = Runtime::new(Path::new(&bin), &run_root);
        let _ = rt.kill(&id, &sig.to_string(), false);
    })?;
    Ok(code.unwrap_or(0))
}

fn runtime_of(cs: &Containers, rec: &Record) -> Runtime {
    Runtime::new(Path::new(&rec.runtime), &cs.run_root())
}

/// `pier stop`: the stop signal, then SIGKILL after `timeout`.
pub fn stop(root: &Path, what: &str, timeout: Option<u64>, signal: Option<&str>) -> Result<()> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let st = cs.update(&rec.id, |s| s.stopped_by_user = true)?;
    if !matches!(
        st.status.as_str(),
        "running" | "restarting" | "paused" | "starting"
    ) {
        return Ok(());
    }
    let rt = runtime_of(&cs, &rec);
    if st.status == "paused" {
        let _ = rt.pause(&rec.id, false);
    }
    let sig = signal
        .map(String::from)
        .or_else(|| rec.run.stop_signal.clone())
        .unwrap_or_else(|| "SIGTERM".into());
    let timeout = timeout.or(rec.run.stop_timeout).unwrap_or(10);
    let _ = rt.kill(&rec.id, &sig, false);
    if wait_stopped(&cs, &rec.id, Duration::from_secs(timeout))? {
        return Ok(());
    }
    let _ = rt.kill(&rec.id, "SIGKILL", false);
    if !wait_stopped(&cs, &rec.id, Duration::from_secs(30))? {
        bail!("container {} did not stop after SIGKILL", rec.name);
    }
    Ok(())
}

/// Waits until the container is no longer running; `false` on timeout.
fn wait_stopped(cs: &Containers, id: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = match cs.observed(id) {
            Ok(s) => s,
            // Removed by its monitor (--rm).
            Err(crate::container::Error::Io { .. }) => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        let monitor_alive = crate::container::process_alive(st.monitor_pid, st.monitor_start);
        if !matches!(
            st.status.as_str(),
            "running" | "restarting" | "paused" | "starting"
        ) && !monitor_alive
        {
            return Ok(true);
        }
        if st.status == "dead" {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `pier kill`.
pub fn kill(root: &Path, what: &str, signal: &str) -> Result<()> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let st = cs.observed(&rec.id)?;
    if st.status != "running" && st.status != "paused" {
        bail!(
            "Cannot kill container: {what}: container {} is not running",
            rec.id
        );
    }
    let sig = runtime_signal(signal)?;
    if sig == "SIGKILL" || sig == "9" {
        cs.update(&rec.id, |s| s.stopped_by_user = true)?;
    }
    runtime_of(&cs, &rec).kill(&rec.id, &sig, false)?;
    Ok(())
}

fn runtime_signal(s: &str) -> Result<String> {
    let up = s.to_ascii_uppercase();
    if up.parse::<u32>().is_ok() {
        return Ok(up);
    }
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    const KNOWN: &[&str] = &[
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    if !KNOWN.contains(&name.as_str()) {
        bail!("invalid signal: {s}");
    }
    Ok(name)
}

/// `pier rm`.
pub fn rm(root: &Path, what: &str, force: bool, volumes: bool) -> Result<()> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let st = cs.observed(&rec.id)?;
    let active = matches!(
        st.status.as_str(),
        "running" | "restarting" | "paused" | "starting"
    );
    if active && !force {
        bail!(
            "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
            rec.name,
            st.status
        );
    }
    if active || st.status == "dead" {
        cs.update(&rec.id, |s| s.stopped_by_user = true)?;
        let rt = runtime_of(&cs, &rec);
        let _ = rt.pause(&rec.id, false);
        let _ = rt.kill(&rec.id, "SIGKILL", true);
        wait_stopped(&cs, &rec.id, Duration::from_secs(30))?;
        // A dead monitor cleaned nothing up: do its part.
        if crate::container::process_alive(st.monitor_pid, st.monitor_start) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while crate::container::process_alive(st.monitor_pid, st.monitor_start)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        rt.delete_force(&rec.id)?;
        crate::net::teardown(&cs, &rec);
        pier_image::snapshot::Rootfs::at(&cs.dir(&rec.id)).unmount()?;
    }
    remove_files(&cs, &rec, volumes)
}

/// Removes a stopped container's files and, with `volumes`, its anonymous
/// volumes.
pub fn remove_files(cs: &Containers, rec: &Record, volumes: bool) -> Result<()> {
    pier_image::snapshot::Rootfs::at(&cs.dir(&rec.id)).unmount()?;
    cs.remove(&rec.id)?;
    if volumes {
        let vols = Volumes::open(cs.root())?;
        for v in &rec.anonymous_volumes {
            let _ = vols.remove(v, &[]);
        }
    }
    Ok(())
}

/// `Up 5 seconds`, `Exited (0) 2 minutes ago`…, as `docker ps` says it.
pub fn status_text(st: &State, now: SystemTime) -> String {
    let since = |t: &str| {
        crate::time::parse(t)
            .and_then(|t| now.duration_since(t).ok())
            .map(crate::time::human)
            .unwrap_or_default()
    };
    match st.status.as_str() {
        "running" => {
            let mut s = format!("Up {}", since(&st.started_at));
            if let Some(h) = &st.health {
                let h = if h.status == "starting" {
                    "health: starting"
                } else {
                    &h.status
                };
                s.push_str(&format!(" ({h})"));
            }
            s
        }
        "paused" => format!("Up {} (Paused)", since(&st.started_at)),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            since(&st.finished_at)
        ),
        "exited" if st.started_at.is_empty() => "Created".into(),
        "exited" => format!("Exited ({}) {} ago", st.exit_code, since(&st.finished_at)),
        "created" | "starting" => "Created".into(),
        "dead" => "Dead".into(),
        other => other.into(),
    }
}

fn command_text(rec: &Record) -> String {
    let mut args = rec.run.entrypoint.clone().unwrap_or_default();
    args.extend(rec.run.cmd.iter().cloned());
    args.join(" ")
}

/// `pier ps`.
pub fn ps(root: &Path, all: bool, quiet: bool, format: &str, no_trunc: bool) -> Result<()> {
    let cs = Containers::open(root)?;
    let store = Store::open(root)?;
    let now = SystemTime::now();
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for rec in cs.records()? {
        let st = match cs.observed(&rec.id) {
            Ok(s) => s,
            Err(_) => continue,
        };
        let running = matches!(st.status.as_str(), "running" | "restarting" | "paused");
        if !all && !running {
            continue;
        }
        let cmd = match Image::resolve(&store, &rec.image_id) {
            Ok(img) => pier_image::bundle::command(&img.config, &rec.run)
                .map(|a| a.join(" "))
                .unwrap_or_default(),
            Err(_) => command_text(&rec),
        };
        rows.push((rec, st, cmd));
    }
    if quiet {
        for (rec, _, _) in &rows {
            writeln!(
                out,
                "{}",
                if no_trunc { &rec.id[..] } else { &rec.id[..12] }
            )?;
        }
        return Ok(());
    }
    match format {
        "json" | "{{json .}}" => {
            for (rec, st, cmd) in &rows {
                let v = json!({
                    "Command": format!("\"{cmd}\""),
                    "CreatedAt": rec.created,
                    "ID": if no_trunc { rec.id.clone() } else { rec.id[..12].to_string() },
                    "Image": rec.image,
                    "Labels": rec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    "Mounts": rec.run.mounts.iter().map(|m| m.target.clone()).collect::<Vec<_>>().join(","),
                    "Names": rec.name,
                    "Networks": rec.network,
                    "Ports": st.ports.join(", "),
                    "RunningFor": crate::time::parse(&rec.created).and_then(|t| now.duration_since(t).ok()).map(|d| format!("{} ago", crate::time::human(d))).unwrap_or_default(),
                    "State": if st.status == "starting" { "created".to_string() } else { st.status.clone() },
                    "Status": status_text(st, now),
                });
                writeln!(out, "{v}")?;
            }
        }
        "table" | "" => {
            let mut table = vec![[
                "CONTAINER ID".to_string(),
                "IMAGE".into(),
                "COMMAND".into(),
                "CREATED".into(),
                "STATUS".into(),
                "PORTS".into(),
                "NAMES".into(),
            ]];
            for (rec, st, cmd) in &rows {
                let mut c = format!("\"{cmd}\"");
                if !no_trunc && c.chars().count() > 22 {
                    c = format!("{}…\"", c.chars().take(20).collect::<String>());
                }
                table.push([
                    if no_trunc {
                        rec.id.clone()
                    } else {
                        rec.id[..12].to_string()
                    },
                    rec.image.clone(),
                    c,
                    crate::time::parse(&rec.created)
                        .and_then(|t| now.duration_since(t).ok())
                        .map(|d| format!("{} ago", crate::time::human(d)))
                        .unwrap_or_default(),
                    status_text(st, now),
                    st.ports.join(", "),
                    rec.name.clone(),
                ]);
            }
            print_table(&mut out, &table)?;
        }
        other => bail!("invalid --format {other:?}: want table or json"),
    }
    Ok(())
}

/// Prints rows aligned in columns three spaces apart, as Docker does.
pub fn print_table<const N: usize>(out: &mut impl Write, rows: &[[String; N]]) -> Result<()> {
    let mut widths = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `pier logs`.
pub fn logs(
    root: &Path,
    what: &str,
    follow: bool,
    tail: Option<usize>,
    timestamps: bool,
) -> Result<()> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    stream_logs(&cs, &rec, follow, tail, &mut |e| {
        let text = if timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log.clone()
        };
        if e.stream == "stderr" {
            err.write_all(text.as_bytes())?;
        } else {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    })
}

/// Hands `emit` the log entries of `rec`: the last `tail` (all when
/// `None`), then with `follow` what it writes until its monitor is gone.
pub fn stream_logs(
    cs: &Containers,
    rec: &Record,
    follow: bool,
    tail: Option<usize>,
    emit: &mut dyn FnMut(&crate::logs::Entry) -> Result<()>,
) -> Result<()> {
    let path = cs.dir(&rec.id).join("container.log");
    let entries = crate::logs::read_all(&path)?;
    let skip = tail.map(|t| entries.len().saturating_sub(t)).unwrap_or(0);
    for e in &entries[skip..] {
        emit(e)?;
    }
    if !follow {
        return Ok(());
    }
    // Follow the current file from where we are until the container is done.
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => std::io::BufReader::new(f),
        Err(_) => return Ok(()),
    };
    let mut seen = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(seen))?;
    }
    let mut line = String::new();
    loop {
        line.clear();
        let n = file.read_line(&mut line)?;
        if n > 0 && line.ends_with('\n') {
            seen += n as u64;
            if let Ok(e) = serde_json::from_str::<crate::logs::Entry>(&line) {
                emit(&e)?;
            }
            continue;
        }
        if n > 0 {
            // Half a line: go back and wait for the rest.
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(seen))?;
        }
        // Rotated: start on the new file.
        if std::fs::metadata(&path)
            .map(|m| m.len() < seen)
            .unwrap_or(false)
        {
            file = std::io::BufReader::new(std::fs::File::open(&path)?);
            seen = 0;
            continue;
        }
        let st = match cs.observed(&rec.id) {
            Ok(s) => s,
            Err(_) => return Ok(()),
        };
        if !crate::container::process_alive(st.monitor_pid, st.monitor_start)
            && st.status != "starting"
        {
            // One last read for what the monitor wrote before exiting.
            line.clear();
            while file.read_line(&mut line)? > 0 {
                if let Ok(e) = serde_json::from_str::<crate::logs::Entry>(&line) {
                    emit(&e)?;
                }
                line.clear();
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `pier exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `-d`.
    pub detach: bool,
    /// `-e`.
    pub env: Vec<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `--privileged`.
    pub privileged: bool,
}

/// `pier exec`: runs `cmd` in the running container; returns its exit code.
pub fn exec(root: &Path, what: &str, cmd: &[String], o: &ExecOptions) -> Result<i32> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let st = cs.observed(&rec.id)?;
    if st.status == "paused" {
        bail!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        );
    }
    if st.status != "running" {
        bail!("Container {} is not running", rec.id);
    }
    let store = Store::open(root)?;
    let image = Image::resolve(&store, &rec.image_id)?;
    let rootfs = cs.dir(&rec.id).join("rootfs");
    let user = o
        .user
        .clone()
        .or_else(|| rec.run.user.clone())
        .or_else(|| image.config["config"]["User"].as_str().map(String::from))
        .unwrap_or_default();
    let (uid, gid, extra, home) = pier_image::bundle::resolve_user(&rootfs, &user)?;
    let mut run = rec.run.clone();
    run.env.extend(o.env.iter().cloned());
    run.tty = o.tty;
    let env = pier_image::bundle::environment(&image.config, &run, &home);
    let spec: Value = serde_json::from_slice(&std::fs::read(cs.dir(&rec.id).join("config.json"))?)?;
    let mut process = spec["process"].clone();
    process["args"] = json!(cmd);
    process["env"] = json!(env);
    process["terminal"] = json!(o.tty);
    process["user"] = json!({"uid": uid, "gid": gid});
    if !extra.is_empty() {
        process["user"]["additionalGids"] = json!(extra);
    }
    if let Some(w) = &o.workdir {
        process["cwd"] = json!(w);
    }
    if o.privileged {
        let all: Vec<&str> = pier_image::bundle::ALL_CAPS.to_vec();
        process["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
    }
    if let Some(obj) = process.as_object_mut() {
        obj.remove("consoleSize");
    }
    let dir = tempfile_dir(&cs)?;
    let pfile = dir.join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(&process)?)?;
    let rt = runtime_of(&cs, &rec);
    let mut c = rt.command();
    c.arg("exec").arg("--process").arg(&pfile);
    if o.detach {
        c.arg("--detach");
    }
    c.arg(&rec.id);
    if !o.interactive {
        c.stdin(Stdio::null());
    }
    let status = c
        .status()
        .with_context(|| format!("failed to run {}", rt.name()))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(status.code().unwrap_or(255))
}

fn tempfile_dir(cs: &Containers) -> Result<PathBuf> {
    let d = cs.run_root().join(format!(
        "exec-{}",
        crate::names::new_id()?.get(..16).unwrap_or("x")
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// `pier wait`: blocks until the container exits; returns its exit code.
pub fn wait(root: &Path, what: &str) -> Result<i32> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    loop {
        let st = match cs.observed(&rec.id) {
            Ok(s) => s,
            Err(_) => bail!("No such container: {what}"),
        };
        let monitor = crate::container::process_alive(st.monitor_pid, st.monitor_start);
        match st.status.as_str() {
            "exited" if !monitor => return Ok(st.exit_code),
            "created" => return Ok(st.exit_code),
            "dead" => return Ok(255),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `pier inspect` of a container: Docker's JSON shape.
pub fn inspect(root: &Path, rec: &Record) -> Result<Value> {
    let cs = Containers::open(root)?;
    let st = cs.observed(&rec.id)?;
    let store = Store::open(root)?;
    let (path, args) = match Image::resolve(&store, &rec.image_id)
        .ok()
        .and_then(|i| pier_image::bundle::command(&i.config, &rec.run).ok())
    {
        Some(mut a) if !a.is_empty() => {
            let p = a.remove(0);
            (p, a)
        }
        _ => (String::new(), Vec::new()),
    };
    let networks: serde_json::Map<String, Value> = st
        .endpoints
        .iter()
        .map(|e| {
            (
                e.network.clone(),
                json!({"IPAddress": e.ip, "IPPrefixLen": e.prefix_len, "Gateway": e.gateway,
                       "MacAddress": e.mac, "Aliases": rec.aliases}),
            )
        })
        .collect();
    let first = st.endpoints.first();
    Ok(json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": path,
        "Args": args,
        "State": {
            "Status": if st.status == "starting" { "created" } else { st.status.as_str() },
            "Running": st.status == "running" || st.status == "paused",
            "Paused": st.status == "paused",
            "Restarting": st.status == "restarting",
            "OOMKilled": st.oom_killed,
            "Dead": st.status == "dead",
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": if st.started_at.is_empty() { "0001-01-01T00:00:00Z" } else { &st.started_at },
            "FinishedAt": if st.finished_at.is_empty() { "0001-01-01T00:00:00Z" } else { &st.finished_at },
            "Health": st.health.as_ref().map(|h| json!({
                "Status": h.status,
                "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|l| json!({"Start": l.start, "End": l.end, "ExitCode": l.exit_code, "Output": l.output})).collect::<Vec<_>>(),
            })),
        },
        "Image": rec.image_id,
        "Name": format!("/{}", rec.name),
        "RestartCount": st.restart_count,
        "Driver": rec.snapshotter,
        "HostConfig": {
            "Runtime": rec.runtime,
            "NetworkMode": rec.network,
            "RestartPolicy": {"Name": rec.restart.name, "MaximumRetryCount": rec.restart.max_retries},
            "AutoRemove": rec.auto_remove,
            "Privileged": rec.run.privileged,
            "ReadonlyRootfs": rec.run.read_only,
            "CapAdd": rec.run.cap_add,
            "CapDrop": rec.run.cap_drop,
            "Memory": rec.run.memory.unwrap_or(0),
            "NanoCpus": rec.run.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            "PidsLimit": rec.run.pids_limit,
            "Init": rec.run.init,
            "PortBindings": rec.publish,
        },
        "Mounts": rec.run.mounts.iter().map(|m| json!({
            "Type": m.kind, "Source": m.source, "Destination": m.target, "RW": !m.readonly,
            "Name": if m.kind == "volume" { Path::new(&m.source).parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()) } else { None },
        })).collect::<Vec<_>>(),
        "Config": {
            "Hostname": rec.run.hostname,
            "User": rec.run.user.clone().unwrap_or_default(),
            "Tty": rec.run.tty,
            "OpenStdin": rec.run.stdin,
            "Env": rec.run.env,
            "Cmd": rec.run.cmd,
            "Image": rec.image,
            "WorkingDir": rec.run.workdir.clone().unwrap_or_default(),
            "Entrypoint": rec.run.entrypoint,
            "Labels": rec.labels,
            "StopSignal": rec.run.stop_signal,
        },
        "NetworkSettings": {
            "IPAddress": first.map(|e| e.ip.clone()).unwrap_or_default(),
            "Gateway": first.map(|e| e.gateway.clone()).unwrap_or_default(),
            "Ports": st.ports,
            "Networks": networks,
        },
    }))
}

/// `pier top`: the container's processes, as `ps -ef` columns.
pub fn top(root: &Path, what: &str) -> Result<()> {
    let cs = Containers::open(root)?;
    let rec = cs.find(what)?;
    let st = cs.observed(&rec.id)?;
    if st.status != "running" && st.status != "paused" {
        bail!("Container {} is not running", rec.id);
    }
    let pids = runtime_of(&cs, &rec).pids(&rec.id)?;
    let mut rows = vec![[
        "UID".to_string(),
        "PID".into(),
        "PPID".into(),
        "STIME".into(),
        "TIME".into(),
        "CMD".into(),
    ]];
    for pid in pids {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ppid = f.get(1).copied().unwrap_or("0").to_string();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let ticks: u64 = f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let secs = ticks / hz;
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(String::from))
            })
            .unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = cmdline
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        rows.push([
            uid,
            pid.to_string(),
            ppid,
            String::new(),
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            cmd,
        ]);
    }
    print_table(&mut std::io::stdout().lock(), &rows)
}

/// `pier stats --no-stream`: one line per container.
pub fn stats(root: &Path, whats: &[String]) -> Result<()> {
    let cs = Containers::open(root)?;
    let recs: Vec<Record> = if whats.is_empty() {
        cs.records()?
            .into_iter()
            .filter(|r| {
                cs.observed(&r.id)
                    .map(|s| s.status == "running")
                    .unwrap_or(false)
            })
            .collect()
    } else {
        whats.iter().map(|w| cs.find(w)).collect::<Result<_, _>>()?
    };
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "NAME".into(),
        "CPU %".into(),
        "MEM USAGE / LIMIT".into(),
        "MEM %".into(),
        "PIDS".into(),
    ]];
    for rec in recs {
        let rt = runtime_of(&cs, &rec);
        let a = rt.stats(&rec.id)?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        let b = rt.stats(&rec.id)?;
        let cpu = |v: &Value| v["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
        let pct = (cpu(&b).saturating_sub(cpu(&a))) as f64 / t0.elapsed().as_nanos() as f64 * 100.0;
        let mem = &b["data"]["memory"]["usage"];
        let usage = mem["usage"].as_u64().unwrap_or(0);
        let limit = mem["limit"].as_u64().unwrap_or(0);
        // No limit: the host's memory is the limit, as Docker shows it.
        let limit = if limit == 0 || limit >= 1 << 62 {
            host_memory()
        } else {
            limit
        };
        let mem_pct = if limit > 0 {
            usage as f64 / limit as f64 * 100.0
        } else {
            0.0
        };
        rows.push([
            rec.id[..12].to_string(),
            rec.name.clone(),
            format!("{pct:.2}%"),
            format!("{} / {}", human_bytes(usage), human_bytes(limit)),
            format!("{mem_pct:.2}%"),
            b["data"]["pids"]["current"]
                .as_u64()
                .unwrap_or(0)
                .to_string(),
        ]);
    }
    print_table(&mut std::io::stdout().lock(), &rows)
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|k| k.parse::<u64>().ok())
                })
        })
        .map(|kib| kib << 10)
        .unwrap_or(0)
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

/// `pier container prune`: removes every stopped container; returns ids.
pub fn prune(root: &Path) -> Result<Vec<String>> {
    let cs = Containers::open(root)?;
    let mut removed = Vec::new();
    for rec in cs.records()? {
        let st = cs.observed(&rec.id)?;
        if matches!(st.status.as_str(), "exited" | "created" | "dead")
            && !crate::container::process_alive(st.monitor_pid, st.monitor_start)
        {
            rm(root, &rec.id, st.status == "dead", false)?;
            removed.push(rec.id);
        }
    }
    Ok(removed)
}

/// Containers that use volume `name`.
pub fn volume_users(root: &Path, name: &str) -> Result<Vec<String>> {
    let cs = Containers::open(root)?;
    Ok(cs
        .records()?
        .into_iter()
        .filter(|r| r.volumes.iter().any(|v| v == name))
        .map(|r| r.id)
        .collect())
}

/// Whether any container uses image `id`.
pub fn image_users(root: &Path, image_id: &str) -> Result<Vec<String>> {
    let cs = Containers::open(root)?;
    Ok(cs
        .records()?
        .into_iter()
        .filter(|r| r.image_id == image_id)
        .map(|r| r.id)
        .collect())
}
