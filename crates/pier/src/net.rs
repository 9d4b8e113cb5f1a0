//! Container networking modes: `none` (a namespace with only loopback),
//! `host` (the host's namespace), and bridge networks (`bridge`, or a
//! user network by name) through pier-net.

use crate::container::{Containers, Record};
use crate::monitor::{NetSetup, Network};
use pier_image::bundle::NetNs;
use std::path::Path;

/// The network layer the monitor uses.
#[derive(Debug, Clone)]
pub struct Net {
    /// pier's root.
    pub root: std::path::PathBuf,
}

impl Network for Net {
    fn setup(&self, rec: &Record, _run_dir: &Path, _hosts: &Path) -> Result<NetSetup, String> {
        match rec.network.as_str() {
            "none" => Ok(NetSetup {
                netns: NetNs::New,
                ..Default::default()
            }),
            "host" => Ok(NetSetup {
                netns: NetNs::Host,
                ..Default::default()
            }),
            other => Err(format!(
                "network {other:?}: bridge networks are not available in this build; use --network none or host"
            )),
        }
    }

    fn teardown(&self, _rec: &Record, _run_dir: &Path) {}
}

/// Undoes a container's networking when its monitor could not (it died).
pub fn teardown(cs: &Containers, rec: &Record) {
    let net = Net {
        root: cs.root().to_owned(),
    };
    net.teardown(rec, &cs.run_dir(&rec.id));
}
