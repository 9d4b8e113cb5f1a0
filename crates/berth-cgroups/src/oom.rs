//! OOM notifications for `berth events`: v1 through an eventfd registered
//! on `memory.oom_control` (cgroup-v1/memory.rst, "Memory thresholds" and
//! "OOM Control"), v2 by watching the `oom_kill` count of `memory.events`
//! with inotify (cgroup-v2.rst: "modified file events are generated").
//!
//! [`OomWatcher::wait`] blocks with a timeout; the watcher is also an fd
//! (`AsFd`) that turns readable when something happened, so `berth events`
//! can poll it next to its stats interval and then call `wait(Some(ZERO))`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fs::{io_err, FsManager};
use crate::stats::parse_keyed;
use crate::{Error, Result};

/// What [`OomWatcher::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// This many OOM events since the last call (at least 1).
    Oom(u64),
    /// Nothing happened within the timeout.
    Timeout,
    /// The cgroup was removed: no more events will come.
    Gone,
}

/// Watches one cgroup for OOM events.
#[derive(Debug)]
pub struct OomWatcher {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    V1 {
        eventfd: OwnedFd,
        /// Must stay open while the event is registered.
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        inotify: OwnedFd,
        events: PathBuf,
        /// The `oom_kill` count already reported.
        seen: u64,
    },
}

fn last_os_error(op: &'static str, path: &Path) -> Error {
    io_err(op, path)(std::io::Error::last_os_error())
}

/// The `oom_kill` count of a v2 `memory.events`; `None` once it is gone.
fn oom_kills(events: &Path) -> Result<Option<u64>> {
    match std::fs::read_to_string(events) {
        Ok(t) => Ok(Some(parse_keyed(&t).get("oom_kill").copied().unwrap_or(0))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", events)(e)),
    }
}

/// poll(2) one fd for input; `false` on timeout.
fn poll_in(fd: BorrowedFd<'_>, timeout: Option<Duration>, path: &Path) -> Result<bool> {
    let ms = match timeout {
        None => -1,
        // Round up so a short timeout does not turn into a busy loop.
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(last_os_error("poll for OOM events of", path));
        }
    }
}

impl OomWatcher {
    pub(crate) fn new(m: &FsManager) -> Result<Self> {
        let cg = m
            .locate("memory", Some("memory"))
            .ok_or(Error::NoController {
                op: "watch for OOM events",
                controller: "memory",
            })?;
        if cg.v2 {
            Self::v2(&cg.dir)
        } else {
            Self::v1(&cg.dir)
        }
    }

    /// Registers an eventfd for OOM notifications of the v1 memory cgroup
    /// `dir` (`cgroup.event_control` takes `<eventfd> <fd of memory.oom_control>`).
    pub fn v1(dir: &Path) -> Result<Self> {
        let control_path = dir.join("memory.oom_control");
        let oom_control = File::open(&control_path).map_err(io_err("open", &control_path))?;
        // SAFETY: eventfd(2) takes plain integers and returns a new fd or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(last_os_error("create an eventfd for", dir));
        }
        // SAFETY: `efd` was just returned by eventfd(2) and is owned by nobody else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let event_control = dir.join("cgroup.event_control");
        std::fs::write(
            &event_control,
            format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd()),
        )
        .map_err(io_err("write", &event_control))?;
        Ok(Self {
            kind: Kind::V1 {
                eventfd,
                _oom_control: oom_control,
                dir: dir.to_owned(),
            },
        })
    }

    /// Watches `memory.events` of the v2 cgroup `dir`.
    pub fn v2(dir: &Path) -> Result<Self> {
        let events = dir.join("memory.events");
        // SAFETY: inotify_init1(2) takes flags and returns a new fd or -1.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return Err(last_os_error("create an inotify instance for", dir));
        }
        // SAFETY: `ifd` was just returned by inotify_init1(2), owned by nobody else.
        let inotify = unsafe { OwnedFd::from_raw_fd(ifd) };
        let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| io_err("watch", &events)(std::io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: a valid inotify fd and a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(
                inotify.as_raw_fd(),
                c.as_ptr(),
                libc::IN_MODIFY | libc::IN_DELETE_SELF,
            )
        };
        if wd < 0 {
            return Err(last_os_error("watch", &events));
        }
        let seen = oom_kills(&events)?.unwrap_or(0);
        Ok(Self {
            kind: Kind::V2 {
                inotify,
                events,
                seen,
            },
        })
    }

    /// Waits up to `timeout` (`None`: forever) for the next OOM event.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        match &mut self.kind {
            Kind::V1 { eventfd, dir, .. } => {
                if !poll_in(eventfd.as_fd(), timeout, dir)? {
                    return Ok(OomEvent::Timeout);
                }
                let mut count = 0u64;
                // SAFETY: reading 8 bytes, the eventfd counter, into a u64.
                let n = unsafe {
                    libc::read(
                        eventfd.as_raw_fd(),
                        (&mut count as *mut u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                if n != 8 {
                    return Err(last_os_error("read the OOM eventfd of", dir));
                }
                // The kernel also signals the eventfd when the cgroup is
                // removed (memcg_event_remove): tell the two apart.
                if !dir.join("cgroup.event_control").exists() {
                    return Ok(OomEvent::Gone);
                }
                Ok(OomEvent::Oom(count.max(1)))
            }
            Kind::V2 {
                inotify,
                events,
                seen,
            } => {
                let deadline = timeout.map(|t| Instant::now() + t);
                loop {
                    match oom_kills(events)? {
                        None => return Ok(OomEvent::Gone),
                        Some(n) if n > *seen => {
                            let new = n - *seen;
                            *seen = n;
                            return Ok(OomEvent::Oom(new));
                        }
                        Some(_) => {}
                    }
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left == Some(Duration::ZERO) {
                        return Ok(OomEvent::Timeout);
                    }
                    if !poll_in(inotify.as_fd(), left, events)? {
                        return Ok(OomEvent::Timeout);
                    }
                    // Drain the queued inotify events; what changed is read
                    // from the file itself at the top of the loop.
                    let mut buf = [0u8; 4096];
                    let mut gone = false;
                    loop {
                        // SAFETY: reading into a buffer we own, of its size.
                        let n = unsafe {
                            libc::read(inotify.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                        };
                        if n <= 0 {
                            break;
                        }
                        let mut off = 0usize;
                        while off + std::mem::size_of::<libc::inotify_event>() <= n as usize {
                            // SAFETY: the kernel wrote whole inotify_event
                            // records; read_unaligned copes with the byte buffer.
                            let ev: libc::inotify_event =
                                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
                            if ev.mask & (libc::IN_DELETE_SELF | libc::IN_IGNORED) != 0 {
                                gone = true;
                            }
                            off += std::mem::size_of::<libc::inotify_event>() + ev.len as usize;
                        }
                    }
                    if gone && oom_kills(events)?.is_none() {
                        return Ok(OomEvent::Gone);
                    }
                }
            }
        }
    }
}

impl AsFd for OomWatcher {
    /// Readable when [`OomWatcher::wait`] has something to report.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { eventfd, .. } => eventfd.as_fd(),
            Kind::V2 { inotify, .. } => inotify.as_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder};

    #[test]
    fn v1_oom_kill_is_reported() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let mem = LinuxMemoryBuilder::default()
            .limit(16i64 << 20)
            .swap(16i64 << 20)
            .build()
            .unwrap();
        m.apply(
            &LinuxResourcesBuilder::default()
                .memory(mem)
                .build()
                .unwrap(),
        )
        .unwrap();
        let mut w = m.oom_events().unwrap();
        assert_eq!(
            w.wait(Some(Duration::from_millis(10))).unwrap(),
            OomEvent::Timeout
        );
        // dd's 64 MiB buffer is touched by the read from /dev/zero.
        let hog = testutil::spawn_in(
            &m.paths(),
            "dd",
            &["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        );
        let event = w.wait(Some(Duration::from_secs(20))).unwrap();
        assert!(matches!(event, OomEvent::Oom(_)), "{event:?}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(testutil::wait(hog).signal(), Some(libc::SIGKILL));
        m.destroy().unwrap();
        assert_eq!(
            w.wait(Some(Duration::from_secs(5))).unwrap(),
            OomEvent::Gone
        );
    }

    #[test]
    fn v2_oom_kill_count_on_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        std::fs::write(&events, "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n").unwrap();
        let mut w = OomWatcher::v2(dir.path()).unwrap();
        // Kills before the watcher started are not reported.
        assert_eq!(
            w.wait(Some(Duration::from_millis(20))).unwrap(),
            OomEvent::Timeout
        );
        let e2 = events.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::write(&e2, "low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\n").unwrap();
        });
        assert_eq!(
            w.wait(Some(Duration::from_secs(10))).unwrap(),
            OomEvent::Oom(2)
        );
        writer.join().unwrap();
        std::fs::remove_file(&events).unwrap();
        assert_eq!(
            w.wait(Some(Duration::from_secs(10))).unwrap(),
            OomEvent::Gone
        );
    }

    #[test]
    fn no_memory_controller_is_an_error() {
        let fake = crate::testutil::FakeTree::v2(&["cpu"]);
        let m = crate::FsManager::new(fake.layout.clone(), "/c");
        let err = m.oom_events().unwrap_err().to_string();
        assert!(err.contains("no memory controller"), "{err}");
    }
}
