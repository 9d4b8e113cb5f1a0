//! OCI hooks: each runs with the container state JSON on stdin, its own
//! `args` and `env`, and an optional `timeout` in seconds
//! (runtime-spec config.md, "POSIX-platform Hooks").

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;

use crate::sys;
use crate::{Error, Result};

/// Runs `hooks` of `kind` in order; the first failure stops the list and
/// is returned as `error running <kind> hook #<i>: …`.
pub fn run(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<()> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, state_json).map_err(|reason| Error::Hook {
            kind,
            index,
            reason,
        })?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let path = hook.path();
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    // Its own process group, so a timeout kills what the hook started too.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin closes the pipe: EPIPE is fine.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let exited = match hook.timeout() {
        Some(secs) => {
            let pidfd =
                sys::pidfd_open(child.id() as i32).map_err(|e| format!("pidfd_open: {e}"))?;
            let ms = i32::try_from(secs.saturating_mul(1000)).unwrap_or(i32::MAX);
            sys::pidfd_wait(&pidfd, ms).map_err(|e| format!("poll: {e}"))?
        }
        None => true,
    };
    if !exited {
        // SAFETY: kill(2) of the hook's process group (pgid = its pid).
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "timeout after {} seconds",
            hook.timeout().unwrap_or_default()
        ));
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    if status.success() {
        Ok(())
    } else if let Some(sig) = status.signal() {
        Err(format!("{} killed by signal {sig}", path.display()))
    } else {
        Err(format!(
            "{} exited with status {}",
            path.display(),
            status.code().unwrap_or(-1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn sh(script: &str, timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default().path("/bin/sh").args(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
        ]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn state_reaches_stdin_and_env_is_exact() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let mut h = sh(
            &format!(
                "cat > {0}; echo \"$FOO\" >> {0}; echo \"${{HOME:-unset}}\" >> {0}",
                out.display()
            ),
            None,
        );
        h.set_env(Some(vec!["FOO=bar".into()]));
        run("prestart", &[h], "{\"id\":\"x\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            "{\"id\":\"x\"}bar\nunset\n"
        );
    }

    #[test]
    fn failure_names_hook_and_index() {
        let err = run(
            "createRuntime",
            &[sh("true", None), sh("exit 3", None)],
            "{}",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("error running createRuntime hook #1:"),
            "{msg}"
        );
        assert!(msg.contains("status 3"), "{msg}");
    }

    #[test]
    fn timeout_kills_what_the_hook_started() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let err = run("poststart", &[sh(&script, Some(1))], "{}").unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The orphaned sleep was killed with the hook's process group.
        let gone = (0..100).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.contains(") Z "));
            if alive {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "the hook's child {pid} survived the timeout");
    }

    #[test]
    fn timeout_kills_the_hook() {
        let start = std::time::Instant::now();
        let err = run("poststart", &[sh("sleep 30", Some(1))], "{}").unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        assert!(start.elapsed().as_secs() < 30);
    }
}
