//! `pause` and `resume`: the cgroup freezer (v1 `freezer.state`, v2
//! `cgroup.freeze`).

use berth_cgroups::Manager;

use crate::container::status_of;
use crate::state::{Root, Status};
use crate::{Error, Result};

/// Runs `berth pause <id>`.
pub fn pause(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match status_of(&locked, &st) {
        Status::Running | Status::Created => {
            st.require_cgroup("pause")?.freeze().map_err(Into::into)
        }
        Status::Paused => Err(Error::BadStatus("container already paused".into())),
        _ => Err(Error::NotRunning),
    }
}

/// Runs `berth resume <id>`.
pub fn resume(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match status_of(&locked, &st) {
        Status::Paused => st.require_cgroup("resume")?.thaw().map_err(Into::into),
        _ => Err(Error::BadStatus("container not paused".into())),
    }
}
