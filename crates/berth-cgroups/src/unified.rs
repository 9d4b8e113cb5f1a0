//! `linux.resources.unified`: raw cgroup v2 `file: value` pairs. On a hybrid
//! host only for controllers the cgroup2 tree has (and its core `cgroup.*`
//! files); anything else is an error naming the key.

use std::collections::HashMap;

use crate::fs::{resource_err, FsManager};
use crate::Result;

const F: &str = "linux.resources.unified";

pub(crate) fn apply(m: &FsManager, unified: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = unified.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in keys {
        let field = format!("{F}[{key:?}]");
        if key.is_empty() || key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(resource_err(
                field,
                value,
                "not a cgroup v2 interface file name",
            ));
        }
        let controller = key.split('.').next().unwrap_or_default();
        let cg = if controller == "cgroup" {
            m.v2(None)
        } else {
            m.v2(Some(controller))
        };
        let Some(cg) = cg else {
            let reason = match m.layout().unified() {
                None => "this host has no cgroup v2 hierarchy".to_owned(),
                Some(_) => {
                    let offered = m.layout().unified_controllers().join(" ");
                    format!(
                        "the {controller} controller is not in this host's cgroup v2 tree (it offers: {offered})"
                    )
                }
            };
            return Err(resource_err(field, value, reason));
        };
        if controller != "cgroup" {
            m.enable_v2(controller)
                .map_err(|reason| resource_err(&field, value, reason))?;
        }
        cg.set(key, value, &field, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::{FsManager, Manager};
    use oci_spec::runtime::{LinuxResources, LinuxResourcesBuilder};

    fn resources(pairs: &[(&str, &str)]) -> LinuxResources {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LinuxResourcesBuilder::default()
            .unified(map)
            .build()
            .unwrap()
    }

    #[test]
    fn hybrid_host_takes_keys_of_the_cgroup2_tree_only() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        m.apply(&resources(&[
            ("hugetlb.2MB.max", "4194304"),
            ("cgroup.max.descendants", "5"),
        ]))
        .unwrap();
        let dir = m.unified_dir().unwrap();
        assert_eq!(read(&dir, "hugetlb.2MB.max"), "4194304");
        assert_eq!(read(&dir, "cgroup.max.descendants"), "5");

        let err = m
            .apply(&resources(&[("memory.max", "1000000")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.resources.unified[\"memory.max\"]: 1000000: the memory controller is not in this host's cgroup v2 tree"),
            "{err}"
        );
        let err = m
            .apply(&resources(&[("../x", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.resources.unified[\"../x\"]: 1: not a cgroup v2"),
            "{err}"
        );
        let err = m
            .apply(&resources(&[("cgroup.nope", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.resources.unified[\"cgroup.nope\"]: 1: not supported"),
            "{err}"
        );
    }

    #[test]
    fn v1_only_host_refuses_unified() {
        let fake = FakeTree::hybrid(&[]);
        let mut layout = fake.layout.clone();
        layout.hierarchies.retain(|h| !h.unified);
        let m = FsManager::new(layout, "/c");
        m.create().unwrap();
        let err = m
            .apply(&resources(&[("cpu.weight", "100")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("this host has no cgroup v2 hierarchy"),
            "{err}"
        );
    }
}
