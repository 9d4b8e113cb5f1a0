//! `pause` and `resume`: the cgroup freezer (v1 `freezer.state`, v2
//! `cgroup.freeze`).

use berth_cgroups::{FsManager, Layout, Manager};

use crate::container::status_of;
use crate::state::{Root, Status};
use crate::{Error, Result};

fn manager(cgroup_path: &str) -> Result<FsManager> {
    Ok(FsManager::new(Layout::detect()?, cgroup_path))
}

/// Runs `berth pause <id>`.
pub fn pause(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match status_of(&locked, &st) {
        Status::Running | Status::Created => manager(&st.cgroup_path)?.freeze().map_err(Into::into),
        Status::Paused => Err(Error::BadStatus("container already paused".into())),
        _ => Err(Error::NotRunning),
    }
}

/// Runs `berth resume <id>`.
pub fn resume(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match status_of(&locked, &st) {
        Status::Paused => manager(&st.cgroup_path)?.thaw().map_err(Into::into),
        _ => Err(Error::BadStatus("container not paused".into())),
    }
}
