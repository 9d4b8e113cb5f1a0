//! `update`: new cgroup limits for a running container. The new values
//! are merged into the ones in force (kept in the state directory's copy
//! of config.json) and the whole set is applied, as runc does, so related
//! values (memory and swap, quota and period) are written consistently.
//! Device rules are not updated (runc skips them too).

use berth_cgroups::Manager;
use oci_spec::runtime::{LinuxResources, Spec};
use serde_json::Value;

use crate::container::status_of;
use crate::state::{self, Root, Status};
use crate::{Error, Result};

/// Overlays `new` on `base`: objects are merged key by key, anything else
/// (numbers, strings, arrays) replaces; nulls in `new` are ignored.
fn merge(base: &mut Value, new: &Value) {
    match (base, new) {
        (Value::Object(b), Value::Object(n)) => {
            for (k, v) in n {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, n) if !n.is_null() => *b = n.clone(),
        _ => {}
    }
}

/// Runs `berth update <id>` with `resources` (from `--resources` or flags).
pub fn update(root: &Root, id: &str, resources: &LinuxResources) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    if status_of(&locked, &st) == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let path = locked.dir.join(state::CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
    let mut config: Value = serde_json::from_slice(&bytes).map_err(|e| Error::State {
        id: id.to_owned(),
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut current = config
        .pointer("/linux/resources")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let mut new = serde_json::to_value(resources)
        .map_err(|e| Error::Init(format!("failed to encode resources: {e}")))?;
    if let Some(obj) = new.as_object_mut() {
        obj.remove("devices");
    }
    merge(&mut current, &new);
    let merged: LinuxResources = serde_json::from_value(current.clone())
        .map_err(|e| Error::Init(format!("invalid resources after merging the update: {e}")))?;
    st.require_cgroup("update")?.apply(&merged)?;
    // Remember what is in force for the next update and for exec.
    if let Some(linux) = config.get_mut("linux").and_then(Value::as_object_mut) {
        linux.insert("resources".into(), current);
    }
    let _: Spec = serde_json::from_value(config.clone())
        .map_err(|e| Error::Init(format!("invalid config after update: {e}")))?;
    let tmp = locked.dir.join(".config.json.tmp");
    std::fs::write(&tmp, config.to_string()).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_overlays_nested_values() {
        let mut base = json!({"memory": {"limit": 100, "swap": 200}, "pids": {"limit": 5}});
        merge(
            &mut base,
            &json!({"memory": {"limit": 300}, "cpu": {"shares": 2}, "pids": null}),
        );
        assert_eq!(
            base,
            json!({"memory": {"limit": 300, "swap": 200}, "pids": {"limit": 5}, "cpu": {"shares": 2}})
        );
    }
}
