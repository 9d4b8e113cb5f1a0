//! `linux.resources.network`: v1 `net_cls.classid` and
//! `net_prio.ifpriomap`. cgroup v2 has no such controllers (use eBPF or
//! nftables' `socket cgroupv2` instead), so on v2 they are an error.

use oci_spec::runtime::LinuxNetwork;

use crate::fs::FsManager;
use crate::Result;

const F: &str = "linux.resources.network";

pub(crate) fn apply(m: &FsManager, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        let field = format!("{F}.classID");
        let cg = m.locate_for("net_cls", None, &field, id)?;
        cg.set("net_cls.classid", &id.to_string(), &field, id)?;
    }
    for (i, p) in n.priorities().as_deref().unwrap_or(&[]).iter().enumerate() {
        let field = format!("{F}.priorities[{i}]");
        let line = format!("{} {}", p.name(), p.priority());
        let cg = m.locate_for("net_prio", None, &field, &line)?;
        cg.set("net_prio.ifpriomap", &line, &field, &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::{FsManager, Hierarchy, Manager};
    use oci_spec::runtime::{
        LinuxInterfacePriorityBuilder, LinuxNetworkBuilder, LinuxResources, LinuxResourcesBuilder,
    };

    fn resources(class: Option<u32>, prio: Option<(&str, u32)>) -> LinuxResources {
        let mut n = LinuxNetworkBuilder::default();
        if let Some(c) = class {
            n = n.class_id(c);
        }
        if let Some((name, p)) = prio {
            n = n.priorities(vec![LinuxInterfacePriorityBuilder::default()
                .name(name)
                .priority(p)
                .build()
                .unwrap()]);
        }
        LinuxResourcesBuilder::default()
            .network(n.build().unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn absent_net_cls_is_an_error_naming_the_field() {
        // This host mounts neither net_cls nor net_prio.
        let cg = TestCgroup::new();
        let err = cg
            .manager()
            .apply(&resources(Some(0x100001), None))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.resources.network.classID: 1048577: no net_cls controller"),
            "{err}"
        );
        let err = cg
            .manager()
            .apply(&resources(None, Some(("lo", 5))))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.resources.network.priorities[0]: lo 5: no net_prio controller"),
            "{err}"
        );
    }

    #[test]
    fn v1_files_on_a_fake_tree() {
        let fake = FakeTree::hybrid(&[]);
        let mut layout = fake.layout.clone();
        let h = fake.root.path().join("net_cls,net_prio");
        std::fs::create_dir(&h).unwrap();
        layout.hierarchies.insert(
            0,
            Hierarchy {
                mount_point: h.clone(),
                controllers: vec!["net_cls".into(), "net_prio".into()],
                unified: false,
            },
        );
        let m = FsManager::new(layout, "/c");
        m.create().unwrap();
        FakeTree::touch(&h.join("c"), &["net_cls.classid", "net_prio.ifpriomap"], "");
        m.apply(&resources(Some(0x100001), Some(("eth0", 7))))
            .unwrap();
        assert_eq!(read(&h.join("c"), "net_cls.classid"), "1048577");
        assert_eq!(read(&h.join("c"), "net_prio.ifpriomap"), "eth0 7");
    }
}
