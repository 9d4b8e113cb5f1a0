//! `events`: container statistics (`--stats` once, else every
//! `--interval`) and OOM notifications, one JSON object per line, in the
//! shape of runc's events (`{"type":"stats","id":…,"data":…}`,
//! `{"type":"oom","id":…}`).

use std::time::{Duration, Instant};

use berth_cgroups::{FsManager, Manager, OomEvent};
use serde_json::{json, Value};

use crate::container::status_of;
use crate::state::{Root, Status};
use crate::{Error, Result};

fn stats_event(id: &str, cg: &FsManager) -> Result<Value> {
    let stats = cg.stats()?;
    let data = serde_json::to_value(&stats)
        .map_err(|e| Error::Init(format!("failed to encode stats: {e}")))?;
    Ok(json!({"type": "stats", "id": id, "data": data}))
}

fn running(root: &Root, id: &str) -> Result<bool> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    Ok(status_of(&locked, &st) != Status::Stopped)
}

/// Runs `berth events`; each event is handed to `emit`. With `stats_only`
/// one stats event is emitted; otherwise stats every `interval` and OOM
/// events as they happen, until the container stops.
pub fn events(
    root: &Root,
    id: &str,
    stats_only: bool,
    interval: Duration,
    mut emit: impl FnMut(&Value) -> Result<()>,
) -> Result<()> {
    let cg = {
        let locked = root.lock(id)?;
        let st = locked.load(id)?;
        if status_of(&locked, &st) == Status::Stopped {
            return Err(Error::BadStatus(format!(
                "container with id {id} is not running"
            )));
        }
        st.require_cgroup("events")?
    };
    if stats_only {
        return emit(&stats_event(id, &cg)?);
    }
    let mut oom = cg.oom_events().ok();
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            if !running(root, id)? {
                return Ok(());
            }
            emit(&stats_event(id, &cg)?)?;
            next = now + interval;
        }
        let wait = next.saturating_duration_since(Instant::now());
        match oom.as_mut() {
            Some(w) => match w.wait(Some(wait))? {
                OomEvent::Oom(n) => {
                    for _ in 0..n {
                        emit(&json!({"type": "oom", "id": id}))?;
                    }
                }
                OomEvent::Timeout => {}
                OomEvent::Gone => return Ok(()),
            },
            None => std::thread::sleep(wait),
        }
    }
}
