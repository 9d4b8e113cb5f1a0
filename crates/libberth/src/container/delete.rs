//! `delete`: destroys a stopped container (or, with `--force`, any).

use std::time::{Duration, Instant};

use berth_cgroups::Manager;

use crate::container::status_of;
use crate::state::{proc_status, ProcStatus, Root, Status};
use crate::{hooks, sys, Error, Result};

/// Runs `berth delete [--force] <id>`. Returns warnings (poststop hook
/// failures are warnings, per the spec).
pub fn delete(root: &Root, id: &str, force: bool) -> Result<Vec<String>> {
    let locked = match root.lock(id) {
        Ok(l) => l,
        Err(Error::NotExist(_)) if force => {
            // A create killed before its first state write may have left
            // a directory behind; remove it only while holding its lock.
            if crate::bundle::validate_id(id).is_ok() {
                if let Some(leftover) = root.lock_leftover(id)? {
                    leftover.remove()?;
                }
            }
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let st = locked.load(id)?;
    crate::failpoint::hit("delete:locked");
    let status = status_of(&locked, &st);
    match status {
        Status::Stopped | Status::Created => {}
        s if !force => {
            return Err(Error::BadStatus(format!(
                "cannot delete container {id} that is not stopped: {s}"
            )))
        }
        _ => {}
    }
    let cg = st.cgroup()?;
    if let (Status::Paused, Some(cg)) = (status, &cg) {
        // A frozen process cannot act on SIGKILL until it is thawed.
        cg.thaw()?;
    }
    if status != Status::Stopped {
        if let Ok(pidfd) = sys::pidfd_open(st.pid) {
            if proc_status(st.pid) == ProcStatus::Alive(st.init_start_time) {
                let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
                // Wait until init is gone or a zombie (its reaper is the caller).
                let deadline = Instant::now() + Duration::from_secs(10);
                while matches!(proc_status(st.pid), ProcStatus::Alive(t) if t == st.init_start_time)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    crate::failpoint::hit("delete:killed");
    // The freezer and its thaw are handled by destroy; SIGKILL reaches all.
    if let Some(cg) = &cg {
        cg.destroy()?;
    }
    crate::trace::phase("cgroup removed");
    crate::failpoint::hit("delete:cgroup-removed");
    let poststop = st.hooks.as_ref().and_then(|h| h.poststop().clone());
    locked.remove()?;
    crate::trace::phase("state removed");
    let mut warnings = Vec::new();
    if let Some(h) = poststop {
        let json = st.oci_json(Status::Stopped).to_string();
        for (i, hook) in h.iter().enumerate() {
            if let Err(e) = hooks::run("poststop", std::slice::from_ref(hook), &json) {
                warnings.push(e.to_string().replacen("#0", &format!("#{i}"), 1));
            }
        }
    }
    Ok(warnings)
}
