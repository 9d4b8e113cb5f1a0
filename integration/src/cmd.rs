//! Running caller commands (`ctr`, `docker`, `podman`) with captured output and a
//! timeout.
//!
//! Output goes to files rather than pipes: a container started by a command may
//! inherit its stdout and keep a pipe open long after the command exits, and a
//! file also lets a test look at what a command printed while it still runs.
//! Every command runs in its own process group (or session, on a pty), which is
//! killed when the command times out or its [`Running`] handle is dropped.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::Pty;

/// Default limit for one command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A command being prepared.
pub struct Cmd {
    cmd: Command,
    argv: String,
    out_dir: PathBuf,
    timeout: Duration,
    stdin: Option<PathBuf>,
}

impl Cmd {
    /// `program`, writing its output into files under `out_dir`.
    pub fn new(program: impl AsRef<OsStr>, out_dir: &Path) -> Self {
        let program = program.as_ref();
        let mut cmd = Command::new(program);
        // Socket activation and sd_notify variables change what runtimes do; the
        // callers must not inherit ours.
        for var in [
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "NOTIFY_SOCKET",
        ] {
            cmd.env_remove(var);
        }
        Cmd {
            cmd,
            argv: program.to_string_lossy().into_owned(),
            out_dir: out_dir.to_path_buf(),
            timeout: COMMAND_TIMEOUT,
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        self.argv.push(' ');
        self.argv.push_str(&arg.to_string_lossy());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads stdin from `path` (default: /dev/null).
    pub fn stdin_file(mut self, path: &Path) -> Self {
        self.stdin = Some(path.to_path_buf());
        self
    }

    /// The command line, for messages.
    pub fn argv(&self) -> &str {
        &self.argv
    }

    /// Runs the command to completion (or its timeout, when it is killed).
    pub fn output(self) -> Output {
        let timeout = self.timeout;
        self.spawn().wait_for_exit(timeout)
    }

    /// [`Cmd::output`] that returns None instead of panicking when the command
    /// cannot be started: for cleanup code, which runs in `Drop` and must not
    /// panic while a failed test unwinds.
    pub fn try_output(self) -> Option<Output> {
        let timeout = self.timeout;
        self.try_spawn().ok().map(|r| r.wait_for_exit(timeout))
    }

    /// Starts the command in its own process group, stdio on /dev/null (or the
    /// stdin file) and two output files.
    pub fn spawn(self) -> Running {
        let argv = self.argv.clone();
        self.try_spawn()
            .unwrap_or_else(|e| panic!("failed to start `{argv}`: {e}"))
    }

    fn try_spawn(mut self) -> std::io::Result<Running> {
        let (stdout_path, stderr_path) = output_paths(&self.out_dir);
        let stdout = File::create(&stdout_path)?;
        let stderr = File::create(&stderr_path)?;
        let stdin = match &self.stdin {
            Some(path) => Stdio::from(File::open(path)?),
            None => Stdio::null(),
        };
        self.cmd
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let child = self.cmd.spawn()?;
        Ok(Running::new(
            child,
            self.argv,
            stdout_path,
            stderr_path,
            self.timeout,
        ))
    }

    /// Starts the command in a new session whose controlling terminal is `pty`'s
    /// slave, on its stdin, stdout and stderr, as a shell in a terminal would.
    /// What it prints is read from the pty ([`Pty::expect`]); the output files stay
    /// empty.
    pub fn spawn_on(mut self, pty: &Pty) -> Running {
        let (stdout_path, stderr_path) = output_paths(&self.out_dir);
        create(&stdout_path);
        create(&stderr_path);
        let slave = pty.slave();
        self.cmd
            .stdin(slave.try_clone().expect("dup pty slave"))
            .stdout(slave.try_clone().expect("dup pty slave"))
            .stderr(slave.try_clone().expect("dup pty slave"));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            self.cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The slave is on fd 0 by now: make it the controlling terminal.
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start `{}` on a pty: {e}", self.argv));
        Running::new(child, self.argv, stdout_path, stderr_path, self.timeout)
    }
}

fn output_paths(dir: &Path) -> (PathBuf, PathBuf) {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (
        dir.join(format!("cmd-{n}.out")),
        dir.join(format!("cmd-{n}.err")),
    )
}

fn create(path: &Path) -> File {
    File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A command that was started and has not been waited for.
///
/// Dropping it kills the command's process group (or session).
pub struct Running {
    child: Option<Child>,
    argv: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    timeout: Duration,
}

impl Running {
    fn new(
        child: Child,
        argv: String,
        stdout_path: PathBuf,
        stderr_path: PathBuf,
        timeout: Duration,
    ) -> Self {
        Running {
            child: Some(child),
            argv,
            stdout_path,
            stderr_path,
            timeout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the command printed on stdout so far.
    pub fn stdout_now(&self) -> String {
        read(&self.stdout_path)
    }

    /// What the command printed on stderr so far.
    pub fn stderr_now(&self) -> String {
        read(&self.stderr_path)
    }

    /// Whether the command is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits until stdout contains `needle`; panics (showing the output) after
    /// `timeout` or when the command exits first.
    #[track_caller]
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout_now().contains(needle) {
                return;
            }
            let exited = !self.is_running();
            // One last look: the output may have arrived just before the exit.
            if exited && self.stdout_now().contains(needle) {
                return;
            }
            if exited || Instant::now() >= deadline {
                let why = if exited { "it exited" } else { "timed out" };
                panic!(
                    "waiting for {needle:?} on the stdout of `{}`: {why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.argv,
                    self.stdout_now(),
                    self.stderr_now()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the command to exit, for at most the command's timeout.
    pub fn wait(self) -> Output {
        let timeout = self.timeout;
        self.wait_for_exit(timeout)
    }

    /// Waits for the command to exit; after `timeout` kills its process group and
    /// returns with `timed_out` set.
    pub fn wait_for_exit(mut self, timeout: Duration) -> Output {
        let mut child = self
            .child
            .take()
            .expect("a Running has a child until waited");
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    timed_out = true;
                    kill_group(&mut child);
                    break child.wait().expect("wait for killed command");
                }
                Err(e) => panic!("wait for `{}`: {e}", self.argv),
            }
        };
        Output {
            argv: std::mem::take(&mut self.argv),
            status,
            timed_out,
            stdout: read(&self.stdout_path),
            stderr: read(&self.stderr_path),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                kill_group(&mut child);
                let _ = child.wait();
            }
        }
    }
}

/// SIGKILLs the child's process group (its pid is the group id: it was started
/// with `process_group(0)` or `setsid`).
fn kill_group(child: &mut Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals that process group only; the
    // group is the one this child leads.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.kill();
}

/// What a finished command did.
pub struct Output {
    pub argv: String,
    pub status: ExitStatus,
    /// The command was killed after its timeout.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.success()
    }

    /// The exit code; panics (showing the output) if the command was killed.
    #[track_caller]
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) if !self.timed_out => code,
            _ => panic!("command did not exit normally\n{self}"),
        }
    }

    /// Panics, showing the output, unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success\n{self}");
        self
    }

    /// Panics, showing the output, unless the command exited with `code`.
    #[track_caller]
    pub fn exits(&self, code: i32) -> &Self {
        assert!(
            !self.timed_out && self.status.code() == Some(code),
            "expected exit code {code}\n{self}"
        );
        self
    }

    /// Panics unless stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "expected {needle:?} on stdout\n{self}"
        );
        self
    }

    /// Panics unless stderr contains `needle` (case-insensitive).
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected {needle:?} on stderr\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.argv)?;
        if self.timed_out {
            writeln!(f, "exit: killed after its timeout")?;
        } else if let Some(signal) = self.status.signal() {
            writeln!(f, "exit: killed by signal {signal}")?;
        } else {
            writeln!(f, "exit: {}", self.status.code().unwrap_or(-1))?;
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
