//! `linux.resources.pids`: `pids.max`, the same file on v1 and v2.

use oci_spec::runtime::LinuxPids;

use crate::fs::FsManager;
use crate::Result;

const F: &str = "linux.resources.pids.limit";

pub(crate) fn apply(m: &FsManager, pids: &LinuxPids) -> Result<()> {
    let limit = pids.limit();
    // 0 is "unset" (runc); negative is unlimited.
    if limit == 0 {
        return Ok(());
    }
    let cg = m.locate_for("pids", Some("pids"), F, limit)?;
    let data = if limit < 0 {
        "max".to_owned()
    } else {
        limit.to_string()
    };
    cg.set("pids.max", &data, F, limit)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{self, read, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder};

    fn resources(limit: i64) -> LinuxResources {
        LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(limit).build().unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn pids_limit_is_set_and_enforced() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        m.apply(&resources(2)).unwrap();
        let dir = m.v1("pids").unwrap().dir;
        assert_eq!(read(&dir, "pids.max"), "2");
        // A shell in the cgroup may start one child, not three.
        let child = testutil::spawn_in(
            &m.paths(),
            "sh",
            &["-c", "sleep 0.1 & sleep 0.1 & sleep 0.1 & wait"],
        );
        testutil::wait(child);
        let events = read(&dir, "pids.events");
        assert!(events.starts_with("max ") && events != "max 0", "{events}");
        m.apply(&resources(-1)).unwrap();
        assert_eq!(read(&dir, "pids.max"), "max");
    }

    #[test]
    fn v2_pids_on_a_fake_tree() {
        let fake = crate::testutil::FakeTree::v2(&["pids"]);
        let m = crate::FsManager::new(fake.layout.clone(), "/c");
        m.create().unwrap();
        let dir = fake.root.path().join("c");
        crate::testutil::FakeTree::touch(&dir, &["pids.max"], "");
        m.apply(&resources(100)).unwrap();
        assert_eq!(read(&dir, "pids.max"), "100");
        m.apply(&resources(0)).unwrap();
        assert_eq!(read(&dir, "pids.max"), "100", "0 leaves the limit alone");
    }
}
