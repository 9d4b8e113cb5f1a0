//! `linux.resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes`,
//! v2 `hugetlb.<size>.max`, wherever the host has the hugetlb controller
//! (on this host only in the hybrid cgroup2 tree).

use oci_spec::runtime::LinuxHugepageLimit;

use crate::fs::{resource_err, FsManager};
use crate::Result;

const F: &str = "linux.resources.hugepageLimits";

pub(crate) fn apply(m: &FsManager, limits: &[LinuxHugepageLimit]) -> Result<()> {
    let Some(first) = limits.first() else {
        return Ok(());
    };
    let cg = m.locate_for(
        "hugetlb",
        Some("hugetlb"),
        &format!("{F}[0]"),
        format!("{} {}", first.page_size(), first.limit()),
    )?;
    for (i, l) in limits.iter().enumerate() {
        let size = l.page_size();
        let name = format!("{F}[{i}]");
        let value = format!("{size} {}", l.limit());
        if size.is_empty() || size.contains('/') || size.contains('.') {
            return Err(resource_err(
                format!("{name}.pageSize"),
                size,
                "not a page size like 2MB",
            ));
        }
        let (file, rsvd, data) = if cg.v2 {
            let data = if l.limit() < 0 {
                "max".to_owned()
            } else {
                l.limit().to_string()
            };
            (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
                data,
            )
        } else {
            (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                l.limit().to_string(),
            )
        };
        if !cg.exists(&file) {
            return Err(resource_err(
                format!("{name}.pageSize"),
                size,
                format!(
                    "no such huge page size on this host ({} does not exist)",
                    cg.file(&file).display()
                ),
            ));
        }
        cg.set(&file, &data, &name, &value)?;
        // Reservations are limited separately since Linux 5.7; limit them
        // too or a reservation could exceed the limit (runc does the same).
        if cg.exists(&rsvd) {
            cg.set(&rsvd, &data, &name, &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::{FsManager, Manager};
    use oci_spec::runtime::{LinuxHugepageLimitBuilder, LinuxResources, LinuxResourcesBuilder};

    fn resources(size: &str, limit: i64) -> LinuxResources {
        let l = LinuxHugepageLimitBuilder::default()
            .page_size(size)
            .limit(limit)
            .build()
            .unwrap();
        LinuxResourcesBuilder::default()
            .hugepage_limits(vec![l])
            .build()
            .unwrap()
    }

    /// On this hybrid host hugetlb exists only in the cgroup2 tree: the
    /// manager must route it there (and enable it in the ancestors).
    #[test]
    fn hybrid_host_routes_hugetlb_to_the_cgroup2_tree() {
        let cg = TestCgroup::nested();
        let m = cg.manager();
        m.apply(&resources("2MB", 8 << 20)).unwrap();
        let dir = m.unified_dir().unwrap();
        assert_eq!(read(&dir, "hugetlb.2MB.max"), "8388608");
        if dir.join("hugetlb.2MB.rsvd.max").exists() {
            assert_eq!(read(&dir, "hugetlb.2MB.rsvd.max"), "8388608");
        }
        m.apply(&resources("1GB", -1)).unwrap();
        assert_eq!(read(&dir, "hugetlb.1GB.max"), "max");

        let err = m.apply(&resources("3MB", 1)).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "linux.resources.hugepageLimits[0].pageSize: 3MB: no such huge page size"
            ),
            "{err}"
        );
    }

    #[test]
    fn v1_files_on_a_fake_tree() {
        let fake = FakeTree::hybrid(&[]);
        let mut layout = fake.layout.clone();
        let h = fake.root.path().join("hugetlb");
        std::fs::create_dir(&h).unwrap();
        layout.hierarchies.insert(
            0,
            crate::Hierarchy {
                mount_point: h.clone(),
                controllers: vec!["hugetlb".into()],
                unified: false,
            },
        );
        let m = FsManager::new(layout, "/c");
        m.create().unwrap();
        FakeTree::touch(&h.join("c"), &["hugetlb.2MB.limit_in_bytes"], "");
        m.apply(&resources("2MB", 2097152)).unwrap();
        assert_eq!(read(&h.join("c"), "hugetlb.2MB.limit_in_bytes"), "2097152");
    }

    #[test]
    fn no_hugetlb_controller_is_an_error() {
        let fake = FakeTree::hybrid(&[]);
        let m = FsManager::new(fake.layout.clone(), "/c");
        m.create().unwrap();
        let err = m.apply(&resources("2MB", 1)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.hugepageLimits[0]: 2MB 1: no hugetlb controller"),
            "{err}"
        );
    }
}
