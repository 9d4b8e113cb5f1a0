//! `linux.resources.rdma`: `rdma.max`, the same file on v1 and v2.

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use crate::fs::FsManager;
use crate::Result;

const F: &str = "linux.resources.rdma";

/// One `rdma.max` line: `DEVICE hca_handle=N hca_object=M`, leaving out
/// what is not set (the kernel keeps its current value).
pub(crate) fn rdma_line(device: &str, r: &LinuxRdma) -> Option<String> {
    let mut line = device.to_owned();
    if let Some(h) = r.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    (line.len() > device.len()).then_some(line)
}

pub(crate) fn apply(m: &FsManager, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    // Sorted, so the writes (and a failure) do not depend on hash order.
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, r) in devices {
        let Some(line) = rdma_line(device, r) else {
            continue;
        };
        let field = format!("{F}[{device:?}]");
        let cg = m.locate_for("rdma", Some("rdma"), &field, &line)?;
        cg.set("rdma.max", &line, &field, &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{LinuxRdmaBuilder, LinuxResources, LinuxResourcesBuilder};

    fn resources(handles: u32) -> LinuxResources {
        let r = LinuxRdmaBuilder::default()
            .hca_handles(handles)
            .build()
            .unwrap();
        LinuxResourcesBuilder::default()
            .rdma(HashMap::from([("mlx5_0".to_owned(), r)]))
            .build()
            .unwrap()
    }

    #[test]
    fn lines() {
        let r = LinuxRdmaBuilder::default()
            .hca_handles(3u32)
            .hca_objects(100u32)
            .build()
            .unwrap();
        assert_eq!(
            rdma_line("mlx4_0", &r).unwrap(),
            "mlx4_0 hca_handle=3 hca_object=100"
        );
        assert_eq!(rdma_line("mlx4_0", &LinuxRdma::default()), None);
    }

    #[test]
    fn absent_rdma_is_an_error() {
        let cg = TestCgroup::new();
        let err = cg.manager().apply(&resources(2)).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "linux.resources.rdma[\"mlx5_0\"]: mlx5_0 hca_handle=2: no rdma controller"
            ),
            "{err}"
        );
    }

    #[test]
    fn v2_rdma_on_a_fake_tree() {
        let fake = FakeTree::v2(&["rdma"]);
        let m = crate::FsManager::new(fake.layout.clone(), "/c");
        m.create().unwrap();
        let dir = fake.root.path().join("c");
        FakeTree::touch(&dir, &["rdma.max"], "");
        m.apply(&resources(7)).unwrap();
        assert_eq!(read(&dir, "rdma.max"), "mlx5_0 hca_handle=7");
    }
}
