//! Status derivation (runc's `refreshState`), `state` and `list`.

use crate::state::{proc_status, Locked, ProcStatus, Root, State, Status};
use crate::Result;

/// The live status of a container from /proc, its cgroup and the fifo.
pub fn status_of(locked: &Locked, state: &State) -> Status {
    match proc_status(state.pid) {
        ProcStatus::Alive(start) if start == state.init_start_time => {}
        _ => return Status::Stopped,
    }
    if let Some(freezer) = &state.freezer_state {
        if std::fs::read_to_string(freezer).is_ok_and(|s| s.trim() == "FROZEN" || s.trim() == "1") {
            return Status::Paused;
        }
    }
    if locked.fifo_exists() {
        Status::Created
    } else {
        Status::Running
    }
}

/// `state <id>`: the OCI state JSON.
pub fn state(root: &Root, id: &str) -> Result<serde_json::Value> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    Ok(st.oci_json(status_of(&locked, &st)))
}

/// `list`: every container's state JSON, sorted by id, with `owner` set to
/// the owner of its state directory as runc shows it.
pub fn list(root: &Root) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for id in root.ids()? {
        let Ok(locked) = root.lock(&id) else { continue };
        let Ok(st) = locked.load(&id) else { continue };
        let mut v = st.oci_json(status_of(&locked, &st));
        v["owner"] = owner_of(&locked.dir).into();
        out.push(v);
    }
    Ok(out)
}

fn owner_of(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return String::new();
    };
    let uid = meta.uid();
    match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(u)) => u.name,
        _ => format!("#{uid}"),
    }
}

/// `ps`: the pids in the container's cgroup.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    use berth_cgroups::Manager;
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    let mut pids = match st.cgroup()? {
        Some(cg) => cg.pids()?,
        // Rootless without a cgroup: init is all berth can name.
        None if status_of(&locked, &st) != crate::state::Status::Stopped => vec![st.pid],
        None => Vec::new(),
    };
    pids.sort_unstable();
    Ok(pids)
}
