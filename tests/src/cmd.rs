//! Running the runtime binary with captured output, extra fds and a timeout.
//!
//! Output goes to files rather than pipes: `create` and `run -d` hand their stdio to
//! the container, which keeps a pipe's write end open long after the runtime exits, so
//! reading a pipe to EOF would block until the container dies. A file has no EOF to
//! wait for, and it also collects what the container writes later (after `start`).

use std::fmt;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Default limit for one runtime invocation.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of one runtime invocation.
pub struct Output {
    /// The argv, for messages.
    pub argv: String,
    pub status: ExitStatus,
    /// Captured when the runtime exited.
    pub stdout: String,
    pub stderr: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code; panics if the runtime was killed by a signal.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!(
                "runtime killed by signal {:?}\n{self}",
                self.status.signal()
            ),
        }
    }

    /// Stdout as it is now: a container started by `create` or `run -d` keeps
    /// writing into the file after the runtime exited.
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Stderr as it is now (see [`Output::stdout_now`]).
    pub fn stderr_now(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Panics, showing the output, unless the runtime exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success\n{self}");
        self
    }

    /// Panics, showing the output, unless the runtime exited non-zero.
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(!self.success(), "expected failure\n{self}");
        self
    }

    /// Panics unless stderr contains one of `needles` (case-insensitive).
    #[track_caller]
    pub fn stderr_mentions(&self, needles: &[&str]) -> &Self {
        let stderr = self.stderr.to_lowercase();
        assert!(
            needles.iter().any(|n| stderr.contains(&n.to_lowercase())),
            "expected stderr to mention one of {needles:?}\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.argv)?;
        writeln!(f, "exit: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One runtime invocation being prepared.
pub struct Invocation {
    cmd: Command,
    argv: String,
    io_dir: PathBuf,
    stdin: Option<File>,
    /// `(target fd in the child, file to place there)`.
    fds: Vec<(RawFd, File)>,
    /// A pty slave to use as stdin, stdout, stderr and controlling terminal.
    terminal: Option<OwnedFd>,
    timeout: Duration,
}

impl Invocation {
    pub(crate) fn new(bin: &Path, args: &[String], io_dir: &Path) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        // Socket activation and sd_notify variables change what runc passes to the
        // container (`runc:utils_linux.go`); tests must not inherit them.
        for var in [
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "NOTIFY_SOCKET",
        ] {
            cmd.env_remove(var);
        }
        let argv = std::iter::once(bin.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Invocation {
            cmd,
            argv,
            io_dir: io_dir.to_path_buf(),
            stdin: None,
            fds: Vec::new(),
            terminal: None,
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// Any program (not the runtime), for checking the harness itself.
    pub fn program(program: &Path, args: &[&str], io_dir: &Path) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Self::new(program, &args, io_dir)
    }

    /// Uses `file` as stdin (default: /dev/null).
    pub fn stdin(mut self, file: File) -> Self {
        self.stdin = Some(file);
        self
    }

    /// Places `file` at fd `target` (≥ 3) in the runtime process.
    pub fn fd(mut self, target: RawFd, file: File) -> Self {
        assert!(target >= 3, "fd {target} is stdio");
        self.fds.push((target, file));
        self
    }

    /// Runs the runtime "in a terminal": `slave` (see [`crate::Pty`]) becomes its
    /// stdin, stdout and stderr and the controlling terminal of a new session it
    /// leads, so that it is the foreground process group that gets SIGWINCH. What
    /// it prints goes to the pty, not to [`Output::stdout`].
    pub fn terminal(mut self, slave: OwnedFd) -> Self {
        self.terminal = Some(slave);
        self
    }

    /// Sets an environment variable of the runtime process (e.g.
    /// `BERTH_FAILPOINT`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the runtime without waiting for it.
    pub fn spawn(mut self) -> Spawned {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let stdout_path = self.io_dir.join(format!("{n}.out"));
        let stderr_path = self.io_dir.join(format!("{n}.err"));
        let stdout = File::create(&stdout_path).expect("create stdout capture file");
        let stderr = File::create(&stderr_path).expect("create stderr capture file");
        if let Some(slave) = self.terminal.take() {
            let out = slave.try_clone().expect("dup pty slave");
            let err = slave.try_clone().expect("dup pty slave");
            self.cmd.stdin(slave).stdout(out).stderr(err);
            // SAFETY: setsid and ioctl are async-signal-safe and touch no memory.
            // The new session's process group is the child's pid, like the group
            // `process_group(0)` makes below, so `kill_group` still applies.
            unsafe {
                self.cmd.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        } else {
            self.cmd.stdout(stdout).stderr(stderr);
            match self.stdin.take() {
                Some(file) => self.cmd.stdin(file),
                None => self.cmd.stdin(Stdio::null()),
            };
            // Its own process group, so that a hung runtime can be killed together
            // with whatever it forked (see `kill_group`).
            self.cmd.process_group(0);
        }
        if !self.fds.is_empty() {
            let pairs: Vec<(RawFd, RawFd)> = self
                .fds
                .iter()
                .map(|(target, file)| (file.as_raw_fd(), *target))
                .collect();
            // SAFETY: the closure runs between fork and exec and only calls fcntl and
            // dup2, which are async-signal-safe; `pairs` was allocated before the fork
            // and is only read, and the scratch array lives on the stack.
            unsafe {
                self.cmd.pre_exec(move || place_fds(&pairs));
            }
        }
        let started = Instant::now();
        let child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.argv));
        // The files now belong to the child; the parent's copies can go.
        self.fds.clear();
        Spawned {
            child: Some(child),
            argv: self.argv,
            stdout_path,
            stderr_path,
            started,
            timeout: self.timeout,
        }
    }

    /// Runs the runtime to completion (panicking after the timeout).
    pub fn output(self) -> Output {
        self.spawn().wait()
    }
}

/// Moves each `(source, target)` fd into place in the child.
///
/// Sources are first copied above every target, so that placing one target cannot
/// clobber a source that happens to have another target's number; `dup2` then clears
/// close-on-exec on the targets.
fn place_fds(pairs: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    const HIGH: RawFd = 100;
    let mut high = [0 as RawFd; 16];
    if pairs.len() > high.len() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    for (slot, (source, _)) in high.iter_mut().zip(pairs) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on an fd we own; no memory is involved.
        let fd = unsafe { libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, HIGH) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = fd;
    }
    for (copy, (_, target)) in high.iter().zip(pairs) {
        // SAFETY: dup2 between two valid fd numbers; no memory is involved.
        if unsafe { libc::dup2(*copy, *target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A runtime process started with [`Invocation::spawn`].
pub struct Spawned {
    child: Option<Child>,
    argv: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    started: Instant,
    timeout: Duration,
}

impl Spawned {
    /// What the process wrote to stdout so far.
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// The pid of the runtime process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until stdout contains `needle`; panics after `timeout`.
    #[track_caller]
    pub fn wait_for_stdout(&self, needle: &str, timeout: Duration) {
        let found = crate::wait_until(timeout, || self.stdout_now().contains(needle));
        assert!(
            found,
            "{:?} did not appear on stdout of `{}` within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            needle,
            self.argv,
            self.stdout_now(),
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        );
    }

    /// Waits for the runtime to exit; kills it and panics when the timeout passes.
    pub fn wait(self) -> Output {
        let timeout = self.timeout;
        match self.wait_inner() {
            (output, false) => output,
            (output, true) => panic!("timed out after {timeout:?}\n{output}"),
        }
    }

    /// Like [`Spawned::wait`], but returns None instead of panicking on timeout.
    pub fn wait_quietly(self) -> Option<Output> {
        match self.wait_inner() {
            (output, false) => Some(output),
            (_, true) => None,
        }
    }

    /// The output, and whether the runtime had to be killed at the timeout.
    fn wait_inner(mut self) -> (Output, bool) {
        let mut child = self.child.take().expect("child is waited once");
        let deadline = self.started + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return (self.collect(status), false),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    kill_group(&mut child);
                    let status = child.wait().expect("wait for killed runtime");
                    return (self.collect(status), true);
                }
            }
        }
    }

    fn collect(&self, status: ExitStatus) -> Output {
        Output {
            argv: self.argv.clone(),
            status,
            stdout: std::fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr_path).unwrap_or_default(),
            stdout_path: self.stdout_path.clone(),
            stderr_path: self.stderr_path.clone(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
            let _ = child.wait();
        }
    }
}

/// SIGKILLs a runtime that overran its timeout, and the process group it leads: the
/// helpers it forked and that are stuck with it (none of them outlives a healthy
/// runtime except the container, which is deleted by the test's cleanup anyway).
fn kill_group(child: &mut Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the process group we created for this child; no memory
        // is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = child.kill();
}
