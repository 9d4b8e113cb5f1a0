//! The monitor: one small process per running container, started by pier
//! and outliving it (like conmon). It makes the rootfs and network, has
//! the runtime create and start the container, holds the container's
//! stdio (pipes, or the pty master received on the console socket), writes
//! the log, serves attach clients, runs health checks, reaps the container
//! as its subreaper, records the exit, applies the restart policy, and
//! tears everything down when the container is done for good.

use crate::attach::{self, read_frame, write_frame};
use crate::container::{Containers, Health, HealthConfig, HealthLog, Record, State};
use crate::logs;
use crate::runtime::{self, Runtime};
use pier_image::bundle::{self, NetNs, Paths};
use pier_image::snapshot::{Image, Rootfs, Snapshotter};
use pier_image::Store;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Hooks the network layer plugs into the monitor: make the container's
/// network before it starts, undo it after.
pub trait Network: Send + Sync {
    /// Prepares networking for `rec`; returns the namespace to use, the
    /// endpoints and published ports to record, and `/etc/hosts` lines
    /// for the container itself.
    fn setup(&self, rec: &Record, run_dir: &Path, hosts_file: &Path) -> Result<NetSetup, String>;
    /// Undoes `setup` (idempotent; also called after a failed setup).
    fn teardown(&self, rec: &Record, run_dir: &Path);
}

/// What [`Network::setup`] made.
#[derive(Debug, Default)]
pub struct NetSetup {
    /// The namespace for the runtime config.
    pub netns: NetNs,
    /// Endpoints to record in the state.
    pub endpoints: Vec<crate::container::Endpoint>,
    /// Ports to record (`0.0.0.0:8080->80/tcp`).
    pub ports: Vec<String>,
    /// Things (port proxies) that must live as long as the container.
    pub keep: Vec<Box<dyn std::any::Any + Send>>,
}

/// Connected attach clients and where their input goes.
struct Hub {
    /// Input that came before the container's stdin existed.
    pending: Mutex<Vec<(u8, Vec<u8>)>>,
    clients: Mutex<Vec<UnixStream>>,
    attached: Condvar,
    stdin: Mutex<Option<File>>,
    pty: Mutex<Option<RawFd>>,
    log: Mutex<Option<logs::Writer>>,
}

impl Hub {
    fn output(&self, stream: u8, data: &[u8]) {
        let name = if stream == attach::STDERR {
            "stderr"
        } else {
            "stdout"
        };
        if let Some(w) = self.lock_log().as_mut() {
            if let Err(e) = w.write(name, data) {
                eprintln!("pier monitor: log write failed: {e}");
            }
        }
        self.broadcast(stream, data);
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, Option<logs::Writer>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn broadcast(&self, kind: u8, data: &[u8]) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain_mut(|c| write_frame(c, kind, data).is_ok());
    }

    fn input(&self, kind: u8, data: &[u8]) {
        let ready = self.pty.lock().unwrap_or_else(|e| e.into_inner()).is_some()
            || self
                .stdin
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some();
        if !ready && kind != attach::RESIZE {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.iter().map(|(_, d)| d.len()).sum::<usize>() < 1 << 20 {
                p.push((kind, data.to_vec()));
            }
            return;
        }
        self.deliver(kind, data);
    }

    /// Hands over input held back until the container's stdin existed.
    fn flush_pending(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (kind, data) in pending {
            self.deliver(kind, &data);
        }
    }

    fn deliver(&self, kind: u8, data: &[u8]) {
        match kind {
            attach::STDIN => {
                if let Some(fd) = *self.pty.lock().unwrap_or_else(|e| e.into_inner()) {
                    write_fd(fd, data);
                } else if let Some(f) = self
                    .stdin
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                {
                    let _ = f.write_all(data);
                }
            }
            attach::STDIN_EOF => {
                // A pipe is closed; a terminal sees ^D only from its user.
                self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
            attach::RESIZE => {
                let text = String::from_utf8_lossy(data);
                let mut it = text.split(' ').filter_map(|n| n.parse::<u16>().ok());
                if let (Some(rows), Some(cols), Some(fd)) = (
                    it.next(),
                    it.next(),
                    *self.pty.lock().unwrap_or_else(|e| e.into_inner()),
                ) {
                    set_winsize(fd, rows, cols);
                }
            }
            _ => {}
        }
    }
}

fn write_fd(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a live buffer to an fd the hub keeps open.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            return;
        }
        data = &data[n as usize..];
    }
}

fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Runs the monitor of container `id` under pier root `root`; returns the
/// monitor's exit code. With `wait_attach`, the container starts only once
/// a client has attached (a foreground `pier run`), so no output is lost.
pub fn run(root: &Path, id: &str, wait_attach: bool, net: &dyn Network) -> i32 {
    match Monitor::new(root, id, net).and_then(|m| m.main(wait_attach)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pier monitor {id}: {e}");
            1
        }
    }
}

struct Monitor<'a> {
    cs: Containers,
    rec: Record,
    dir: PathBuf,
    run_dir: PathBuf,
    runtime: Runtime,
    hub: Arc<Hub>,
    net: &'a dyn Network,
}

type Res<T> = Result<T, String>;

impl<'a> Monitor<'a> {
    fn new(root: &Path, id: &str, net: &'a dyn Network) -> Res<Monitor<'a>> {
        let cs = Containers::open(root).map_err(|e| e.to_string())?;
        let rec = cs.record(id).map_err(|e| e.to_string())?;
        let bin = runtime::locate(&rec.runtime).map_err(|e| e.to_string())?;
        let runtime = Runtime::new(&bin, &cs.run_root());
        Ok(Monitor {
            dir: cs.dir(id),
            run_dir: cs.run_dir(id),
            cs,
            rec,
            runtime,
            hub: Arc::new(Hub {
                pending: Mutex::new(Vec::new()),
                clients: Mutex::new(Vec::new()),
                attached: Condvar::new(),
                stdin: Mutex::new(None),
                pty: Mutex::new(None),
                log: Mutex::new(None),
            }),
            net,
        })
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Err(e) = self.cs.update(&self.rec.id, f) {
            eprintln!("pier monitor: failed to record state: {e}");
        }
    }

    fn main(&self, wait_attach: bool) -> Res<()> {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let me = std::process::id() as i32;
        let start = crate::container::start_time(me).unwrap_or(0);
        self.update(|s| {
            s.monitor_pid = me;
            s.monitor_start = start;
            s.stopped_by_user = false;
            s.error.clear();
        });
        fs::create_dir_all(&self.run_dir)
            .map_err(|e| format!("create {}: {e}", self.run_dir.display()))?;
        let sock = self.run_dir.join("attach.sock");
        let _ = fs::remove_file(&sock);
        let listener =
            UnixListener::bind(&sock).map_err(|e| format!("bind {}: {e}", sock.display()))?;
        let hub = self.hub.clone();
        std::thread::spawn(move || serve_attach(listener, hub));
        *self.hub.lock_log() = Some(
            logs::Writer::open(
                &self.dir.join("container.log"),
                logs::DEFAULT_MAX_SIZE,
                logs::DEFAULT_MAX_FILES,
            )
            .map_err(|e| format!("open log: {e}"))?,
        );

        let mut keep = Vec::new();
        let result = self
            .setup(&mut keep)
            .and_then(|()| self.supervise(wait_attach));
        if let Err(e) = &result {
            let e = e.clone();
            self.update(|s| {
                s.status = "exited".into();
                s.pid = 0;
                s.error = e.clone();
                s.exit_code = exit_code_for(&e);
                s.finished_at = crate::time::now();
            });
            self.hub
                .broadcast(attach::STDERR, format!("pier: {e}\n").as_bytes());
        }
        drop(keep);
        self.teardown();
        let st = self.cs.state(&self.rec.id).unwrap_or_default();
        if self.rec.auto_remove {
            if let Err(e) = crate::commands::remove_files(&self.cs, &self.rec, true) {
                eprintln!("pier monitor: --rm: {e}");
            }
        }
        self.hub
            .broadcast(attach::EXIT, st.exit_code.to_string().as_bytes());
        result
    }

    /// Rootfs, network, /etc files and the runtime config.
    fn setup(&self, keep: &mut Vec<Box<dyn std::any::Any + Send>>) -> Res<()> {
        let store = Store::open(self.cs.root()).map_err(|e| e.to_string())?;
        let image = Image::resolve(&store, &self.rec.image_id).map_err(|e| e.to_string())?;
        let how = if self.rec.snapshotter == "copy" {
            Snapshotter::Copy
        } else {
            Snapshotter::Overlay
        };
        let rootfs = if how == Snapshotter::Copy && self.dir.join("rootfs/.pier-unpacked").exists()
        {
            Rootfs::at(&self.dir)
        } else {
            let r = Rootfs::prepare(&store, &image, &self.dir, how).map_err(|e| e.to_string())?;
            if how == Snapshotter::Copy {
                let _ = fs::write(self.dir.join("rootfs/.pier-unpacked"), "");
            }
            r
        };
        rootfs.mount().map_err(|e| e.to_string())?;
        for (m, v) in self.rec.run.mounts.iter().zip(0..) {
            let _ = v;
            if m.kind == "volume" {
                let name = Path::new(&m.source)
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let vols =
                    crate::volume::Volumes::open(self.cs.root()).map_err(|e| e.to_string())?;
                if let Ok(vol) = vols.get(&name) {
                    if !m.options.iter().any(|o| o == "nocopy") {
                        vols.populate(&vol, &rootfs.merged, &m.target)
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        let hosts = self.dir.join("hosts");
        let hostname = self.dir.join("hostname");
        let resolv = self.dir.join("resolv.conf");
        fs::write(&hostname, format!("{}\n", self.rec.run.hostname)).map_err(|e| e.to_string())?;
        fs::write(&resolv, resolv_conf()).map_err(|e| e.to_string())?;
        fs::write(&hosts, hosts_file(&self.rec.run.hostname, None)).map_err(|e| e.to_string())?;
        let setup = self.net.setup(&self.rec, &self.run_dir, &hosts)?;
        self.update(|s| {
            s.endpoints = setup.endpoints.clone();
            s.ports = setup.ports.clone();
        });
        keep.extend(setup.keep);
        let mut run = self.rec.run.clone();
        run.netns = setup.netns;
        let paths = Paths {
            rootfs: rootfs.merged.clone(),
            hosts,
            hostname,
            resolv_conf: resolv,
            init: ["/usr/bin/tini-static", "/usr/local/bin/tini-static"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists()),
            cgroups_path: format!("/pier/{}", self.rec.id),
        };
        let spec = bundle::runtime_config(&image, &run, &paths).map_err(|e| e.to_string())?;
        let data = serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?;
        fs::write(self.dir.join("config.json"), data).map_err(|e| e.to_string())
    }

    fn teardown(&self) {
        let _ = self.runtime.delete_force(&self.rec.id);
        self.net.teardown(&self.rec, &self.run_dir);
        if let Err(e) = Rootfs::at(&self.dir).unmount() {
            eprintln!("pier monitor: {e}");
        }
        self.update(|s| {
            s.endpoints.clear();
            s.ports.clear();
            s.pid = 0;
        });
        let _ = fs::remove_dir_all(&self.run_dir);
    }

    /// Runs the container until it is done for good (restart policy).
    fn supervise(&self, mut wait_attach: bool) -> Res<()> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let code = self.run_once(wait_attach)?;
            wait_attach = false;
            let st = self.cs.state(&self.rec.id).map_err(|e| e.to_string())?;
            if st.stopped_by_user || !self.rec.restart.wants_restart(code, st.restart_count) {
                return Ok(());
            }
            // Docker's backoff: doubling from 100 ms, reset after 10 s of running.
            if started.elapsed() >= Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            self.update(|s| s.status = "restarting".into());
            self.hub
                .broadcast(attach::EXIT, code.to_string().as_bytes());
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(60));
            let st = self.cs.state(&self.rec.id).map_err(|e| e.to_string())?;
            if st.stopped_by_user {
                self.update(|s| s.status = "exited".into());
                return Ok(());
            }
            self.update(|s| s.restart_count += 1);
        }
    }

    /// Creates, starts and waits for the container once; returns its exit code.
    fn run_once(&self, wait_attach: bool) -> Res<i32> {
        let _ = self.runtime.delete_force(&self.rec.id);
        let tty = self.rec.run.tty;
        let pid_file = self.dir.join("init.pid");
        let _ = fs::remove_file(&pid_file);
        let log_file = self.dir.join("runtime.log");
        let _ = fs::remove_file(&log_file);
        let mut cmd = self.runtime.command();
        cmd.arg("--log")
            .arg(&log_file)
            .args(["--log-format", "json"]);
        cmd.arg("create")
            .arg("--bundle")
            .arg(&self.dir)
            .arg("--pid-file")
            .arg(&pid_file);
        let mut readers: Vec<(u8, File)> = Vec::new();
        let console = if tty {
            let path = self.run_dir.join("console.sock");
            let _ = fs::remove_file(&path);
            let l =
                UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
            cmd.arg("--console-socket").arg(&path);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Some(l)
        } else {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            readers.push((attach::STDOUT, out_r));
            readers.push((attach::STDERR, err_r));
            if self.rec.run.stdin {
                let (in_r, in_w) = pipe()?;
                *self.hub.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(in_w);
                self.hub.flush_pending();
                cmd.stdin(Stdio::from(in_r));
            } else {
                cmd.stdin(Stdio::null());
            }
            cmd.stdout(Stdio::from(out_w)).stderr(Stdio::from(err_w));
            None
        };
        cmd.arg(&self.rec.id);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("run {}: {e}", self.runtime.name()))?;
        drop(cmd); // our copies of the pipes' write ends
        let master = match &console {
            Some(l) => match receive_pty(l, &mut child) {
                Ok(m) => Some(m),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.runtime_error("create", &log_file, &e));
                }
            },
            None => None,
        };
        let status = child.wait().map_err(|e| format!("wait for runtime: {e}"))?;
        if !status.success() {
            return Err(self.runtime_error("create", &log_file, "failed"));
        }
        let pid: i32 = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("runtime wrote no pid to {}", pid_file.display()))?;
        if let Some(m) = &master {
            *self.hub.pty.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.as_raw_fd());
            self.hub.flush_pending();
            readers.push((
                attach::STDOUT,
                File::from(m.try_clone().map_err(|e| e.to_string())?),
            ));
        }
        let done = Arc::new(AtomicBool::new(false));
        let pumps: Vec<_> = readers
            .into_iter()
            .map(|(kind, f)| {
                let hub = self.hub.clone();
                let done = done.clone();
                std::thread::spawn(move || pump(f, kind, &hub, &done))
            })
            .collect();
        if wait_attach {
            let clients = self.hub.clients.lock().unwrap_or_else(|e| e.into_inner());
            let _ = self
                .hub
                .attached
                .wait_timeout_while(clients, Duration::from_secs(30), |c| c.is_empty());
        }
        if let Err(e) = self.runtime.start(&self.rec.id) {
            // SAFETY: kill(2) of the init we were given.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_pid(pid);
            done.store(true, Ordering::Relaxed);
            return Err(e.to_string());
        }
        let started_at = crate::time::now();
        self.update(|s| {
            s.status = "running".into();
            s.pid = pid;
            s.started_at = started_at.clone();
            s.error.clear();
            s.oom_killed = false;
            if self.rec.health.is_some() {
                s.health = Some(Health {
                    status: "starting".into(),
                    ..Default::default()
                });
            }
        });
        let checker = self.rec.health.clone().map(|h| {
            let (cs, id, rt, done) = (
                self.cs.clone(),
                self.rec.id.clone(),
                self.runtime.clone(),
                done.clone(),
            );
            std::thread::spawn(move || health_loop(&cs, &id, &rt, &h, &done))
        });
        let code = wait_pid(pid);
        // Output still buffered in the pipes is read before the pumps stop;
        // a daemon that inherited them must not keep the monitor forever.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut pumps = pumps;
        while pumps.iter().any(|p| !p.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        done.store(true, Ordering::Relaxed);
        for p in pumps.drain(..) {
            let _ = p.join();
        }
        if let Some(c) = checker {
            let _ = c.join();
        }
        if let Some(w) = self.hub.lock_log().as_mut() {
            let _ = w.flush();
        }
        self.hub
            .pty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.hub
            .stdin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(master);
        let oom = self.oom_killed();
        let _ = self.runtime.delete_force(&self.rec.id);
        self.update(|s| {
            s.status = "exited".into();
            s.pid = 0;
            s.exit_code = code;
            s.oom_killed = oom;
            s.finished_at = crate::time::now();
        });
        Ok(code)
    }

    /// Whether the kernel's OOM killer acted in the container's memory
    /// cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    fn oom_killed(&self) -> bool {
        let rel = format!("pier/{}", self.rec.id);
        let v1 = format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control");
        let v2 = format!("/sys/fs/cgroup/{rel}/memory.events");
        [v1, v2].iter().any(|p| {
            fs::read_to_string(p).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("oom_kill ") && l.trim_end() != "oom_kill 0")
            })
        })
    }

    fn runtime_error(&self, verb: &str, log: &Path, fallback: &str) -> String {
        let text = fs::read(log).unwrap_or_default();
        let msg = runtime::message(&text);
        let msg = if msg.is_empty() {
            fallback.to_string()
        } else {
            msg
        };
        format!("{} {verb}: {msg}", self.runtime.name())
    }
}

/// Docker's exit codes for a container that could not run: 127 when the
/// command is missing, 126 when it cannot be executed, 125 otherwise.
fn exit_code_for(error: &str) -> i32 {
    let e = error.to_ascii_lowercase();
    if e.contains("not found") || e.contains("no such file") {
        127
    } else if e.contains("permission denied") || e.contains("not executable") {
        126
    } else {
        125
    }
}

fn pipe() -> Res<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe: {}", io::Error::last_os_error()));
    }
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Copies a container output stream to the hub until EOF (or `done`).
fn pump(f: File, kind: u8, hub: &Hub, done: &AtomicBool) {
    let fd = f.as_raw_fd();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own.
        let r = unsafe { libc::poll(&mut p, 1, 100) };
        if r == 0 {
            if done.load(Ordering::Relaxed) {
                return;
            }
            continue;
        }
        // SAFETY: reading into a live buffer of the length passed.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return; // EOF, or EIO from a pty whose other side is gone
        }
        hub.output(kind, &buf[..n as usize]);
    }
}

/// Accepts attach clients: reads their request line, then their frames.
fn serve_attach(listener: UnixListener, hub: Arc<Hub>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let hub = hub.clone();
        std::thread::spawn(move || {
            let mut reader = match conn.try_clone() {
                Ok(r) => r,
                Err(_) => return,
            };
            // The request line: read byte by byte so frames after it stay.
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while reader.read(&mut b).map(|n| n == 1).unwrap_or(false) && b[0] != b'\n' {
                line.push(b[0]);
                if line.len() > 4096 {
                    return;
                }
            }
            let req: serde_json::Value = serde_json::from_slice(&line).unwrap_or_default();
            {
                let mut clients = hub.clients.lock().unwrap_or_else(|e| e.into_inner());
                clients.push(conn);
                hub.attached.notify_all();
            }
            if req["stdin"].as_bool() != Some(true) {
                return;
            }
            while let Ok(Some((kind, data))) = read_frame(&mut reader) {
                hub.input(kind, &data);
            }
        });
    }
}

/// Receives the pty master the runtime sends on the console socket
/// (`SCM_RIGHTS`), while watching the runtime in case it fails first.
fn receive_pty(l: &UnixListener, child: &mut std::process::Child) -> Res<OwnedFd> {
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let conn = loop {
        match l.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err("runtime exited without sending a terminal".into());
                }
                if Instant::now() > deadline {
                    return Err("timed out waiting for the runtime's terminal".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("console socket: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one fd's control message, aligned for cmsghdr.
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; zeroed is a valid initial value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg points at buffers that outlive the call.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("receive terminal: {}", io::Error::last_os_error()));
    }
    // SAFETY: CMSG_FIRSTHDR reads the msghdr filled in by recvmsg.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: cmsg is null or points into cbuf, checked before use.
    if cmsg.is_null() || unsafe { (*cmsg).cmsg_type } != libc::SCM_RIGHTS {
        return Err("the runtime sent no terminal fd".into());
    }
    // SAFETY: an SCM_RIGHTS message carries at least one int fd.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>()) };
    // SAFETY: the kernel gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// waitpid for `pid`: its exit code, or 128 + the signal that killed it.
fn wait_pid(pid: i32) -> i32 {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a status int we own.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            if libc::WIFSIGNALED(status) {
                return 128 + libc::WTERMSIG(status);
            }
            continue;
        }
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // Not our child (the runtime did not hand it to us): poll until gone.
        while crate::container::start_time(pid).is_some() {
            std::thread::sleep(Duration::from_millis(50));
        }
        return 255;
    }
}

/// Runs the health check every interval until `done`; records results.
fn health_loop(cs: &Containers, id: &str, rt: &Runtime, h: &HealthConfig, done: &AtomicBool) {
    let began = Instant::now();
    let interval = Duration::from_millis(h.interval_ms.max(10));
    loop {
        let next = Instant::now() + interval;
        while Instant::now() < next {
            if done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20).min(interval));
        }
        let start = SystemTime::now();
        let (code, output) = run_check(rt, id, h);
        if done.load(Ordering::Relaxed) {
            return;
        }
        let in_start_period = began.elapsed() < Duration::from_millis(h.start_period_ms);
        let entry = HealthLog {
            start: crate::time::rfc3339(start),
            end: crate::time::now(),
            exit_code: code,
            output,
        };
        let _ = cs.update(id, |s| {
            let health = s.health.get_or_insert_with(Default::default);
            health.log.push(entry);
            if health.log.len() > 5 {
                health.log.remove(0);
            }
            if code == 0 {
                health.failing_streak = 0;
                health.status = "healthy".into();
            } else if !in_start_period {
                health.failing_streak += 1;
                if health.failing_streak >= h.retries.max(1) {
                    health.status = "unhealthy".into();
                }
            }
        });
    }
}

fn run_check(rt: &Runtime, id: &str, h: &HealthConfig) -> (i32, String) {
    let args: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        Some("CMD") => h.test[1..].to_vec(),
        _ => return (-1, "unusable health check".into()),
    };
    let mut cmd = rt.command();
    cmd.arg("exec").arg(id).args(&args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        return (-1, "cannot run the runtime".into());
    };
    let deadline = Instant::now() + Duration::from_millis(h.timeout_ms.max(1));
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return (
                    -1,
                    format!("Health check exceeded timeout ({}ms)", h.timeout_ms),
                );
            }
        }
    }
    match child.wait_with_output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            text.truncate(4096);
            (out.status.code().unwrap_or(-1), text)
        }
        Err(e) => (-1, e.to_string()),
    }
}

/// The host's resolv.conf without loopback name servers (unreachable from
/// a container's own network namespace), as Docker filters it.
pub fn resolv_conf() -> String {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    host.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A container's /etc/hosts: localhost and its own name.
pub fn hosts_file(hostname: &str, ip: Option<&str>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    } else {
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    s
}
