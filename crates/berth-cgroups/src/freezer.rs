//! `pause`/`resume`: the v1 freezer, or the v2 core file `cgroup.freeze`.
//! A v1 freezer hierarchy wins on hybrid hosts, where both exist.

use std::time::{Duration, Instant};

use crate::fs::{Cg, FsManager};
use crate::{Error, Result};

/// How long the kernel gets to freeze or thaw every task.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The freezer of this cgroup: v1 `freezer.state`, else v2 `cgroup.freeze`.
fn locate(m: &FsManager, op: &'static str) -> Result<Cg> {
    m.v1("freezer")
        .or_else(|| m.v2(None))
        .ok_or(Error::NoController {
            op,
            controller: "freezer",
        })
}

pub(crate) fn freeze(m: &FsManager) -> Result<()> {
    let cg = locate(m, "freeze the cgroup")?;
    if cg.v2 {
        set_v2(&cg, true)
    } else {
        freeze_v1(&cg)
    }
}

pub(crate) fn thaw(m: &FsManager) -> Result<()> {
    let cg = locate(m, "thaw the cgroup")?;
    if cg.v2 {
        set_v2(&cg, false)
    } else {
        thaw_v1(&cg)
    }
}

pub(crate) fn is_frozen(m: &FsManager) -> Result<bool> {
    let Ok(cg) = locate(m, "read the freezer state") else {
        return Ok(false);
    };
    let (file, frozen) = if cg.v2 {
        ("cgroup.freeze", "1")
    } else {
        ("freezer.state", "FROZEN")
    };
    Ok(cg.read_opt(file)?.is_some_and(|s| s.trim() == frozen))
}

fn write(cg: &Cg, file: &str, data: &str) -> Result<()> {
    cg.try_write(file, data).map_err(|source| Error::Io {
        op: "write",
        path: cg.file(file),
        source,
    })
}

/// v1: write FROZEN until the state reads FROZEN. The state passes through
/// FREEZING while tasks are being stopped; new tasks forked meanwhile can
/// keep it there, so every 50 tries thaw briefly and start over, and give up
/// (thawed, never half-frozen) after the timeout. This is runc's loop
/// (libcontainer/cgroups/fs/freezer.go), with a deadline instead of a count.
fn freeze_v1(cg: &Cg) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    let mut i = 0u32;
    while Instant::now() < deadline {
        if i % 50 == 49 {
            let _ = cg.try_write("freezer.state", "THAWED");
            std::thread::sleep(Duration::from_millis(10));
        }
        write(cg, "freezer.state", "FROZEN")?;
        let state = cg.read("freezer.state")?;
        match state.trim() {
            "FROZEN" => return Ok(()),
            "FREEZING" => std::thread::sleep(Duration::from_micros(100 << (i % 50).min(6))),
            other => {
                return Err(Error::Parse {
                    path: cg.file("freezer.state"),
                    reason: format!("unexpected state {other:?} after writing FROZEN"),
                })
            }
        }
        i += 1;
    }
    let _ = cg.try_write("freezer.state", "THAWED");
    Err(Error::Freezer {
        path: cg.dir.clone(),
        state: "FROZEN",
        seconds: TIMEOUT.as_secs(),
    })
}

fn thaw_v1(cg: &Cg) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        write(cg, "freezer.state", "THAWED")?;
        if cg.read("freezer.state")?.trim() == "THAWED" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Freezer {
                path: cg.dir.clone(),
                state: "THAWED",
                seconds: TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// v2: write `cgroup.freeze`, then wait until `cgroup.events` says
/// `frozen 1` (or `frozen 0`): the write only starts the transition
/// (cgroup-v2.rst, "Core Interface Files"). A failed freeze is undone.
fn set_v2(cg: &Cg, frozen: bool) -> Result<()> {
    let want = if frozen { "1" } else { "0" };
    write(cg, "cgroup.freeze", want)?;
    let deadline = Instant::now() + TIMEOUT;
    let mut delay = Duration::from_micros(100);
    loop {
        let events = cg.read("cgroup.events")?;
        let now = events
            .lines()
            .find_map(|l| l.strip_prefix("frozen "))
            .map(str::trim);
        if now == Some(want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            if frozen {
                let _ = cg.try_write("cgroup.freeze", "0");
            }
            return Err(Error::Freezer {
                path: cg.dir.clone(),
                state: if frozen { "frozen" } else { "thawed" },
                seconds: TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::testutil::{self, read, TestCgroup};
    use crate::Manager;

    /// A shell that appends to a file as fast as it can: a frozen cgroup
    /// makes no progress (the file stops growing), a thawed one resumes.
    fn progress_test(cg: &TestCgroup) {
        let m = cg.manager();
        let out = tempfile::NamedTempFile::new().unwrap();
        let path = out.path().to_str().unwrap().to_owned();
        let size = || std::fs::metadata(&path).unwrap().len();
        let child = testutil::spawn_in(
            &m.paths(),
            "sh",
            &["-c", &format!("while :; do echo x >> {path}; done")],
        );
        std::thread::sleep(Duration::from_millis(100));
        m.freeze().unwrap();
        assert!(m.is_frozen().unwrap());
        let a = size();
        std::thread::sleep(Duration::from_millis(200));
        let b = size();
        assert_eq!(a, b, "a frozen cgroup made progress");
        m.thaw().unwrap();
        assert!(!m.is_frozen().unwrap());
        std::thread::sleep(Duration::from_millis(200));
        assert!(size() > b, "a thawed cgroup made no progress");
        testutil::reap(child);
    }

    #[test]
    fn v1_freezer_freezes_and_thaws_a_real_child() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let child = testutil::spawn_sleep(&m.paths());
        m.freeze().unwrap();
        assert!(m.is_frozen().unwrap());
        assert_eq!(
            read(&m.v1("freezer").unwrap().dir, "freezer.state"),
            "FROZEN"
        );
        m.thaw().unwrap();
        assert!(!m.is_frozen().unwrap());
        testutil::reap(child);
        progress_test(&cg);
    }

    #[test]
    fn v2_freeze_in_the_cgroup2_tree() {
        let cg = TestCgroup::unified_only();
        let m = cg.manager();
        let child = testutil::spawn_sleep(&m.paths());
        m.freeze().unwrap();
        let dir = m.unified_dir().unwrap();
        assert!(read(&dir, "cgroup.events").contains("frozen 1"));
        assert!(m.is_frozen().unwrap());
        m.thaw().unwrap();
        assert!(read(&dir, "cgroup.events").contains("frozen 0"));
        testutil::reap(child);
        progress_test(&cg);
    }

    #[test]
    fn destroy_kills_a_frozen_cgroup() {
        for cg in [TestCgroup::new(), TestCgroup::unified_only()] {
            let m = cg.manager();
            let child = testutil::spawn_sleep(&m.paths());
            m.freeze().unwrap();
            m.destroy().unwrap();
            let status = testutil::wait(child);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGKILL));
        }
    }
}
