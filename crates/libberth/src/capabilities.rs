//! Process capabilities: the five sets of `process.capabilities`, applied
//! around the uid switch as runc does (capabilities(7)).

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability};
use oci_spec::runtime::LinuxCapabilities;

use crate::{Error, Result};

fn convert(
    set: Option<&oci_spec::runtime::Capabilities>,
    field: &str,
) -> Result<HashSet<Capability>> {
    let mut out = HashSet::new();
    for c in set.into_iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = Capability::from_str(&name).map_err(|_| {
            Error::Init(format!(
                "process.capabilities.{field}: unknown capability {name:?}"
            ))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

/// The sets to apply, converted before any privilege is dropped.
pub struct Plan {
    bounding: HashSet<Capability>,
    effective: HashSet<Capability>,
    inheritable: HashSet<Capability>,
    permitted: HashSet<Capability>,
    ambient: HashSet<Capability>,
}

impl Plan {
    /// Converts the spec's sets.
    pub fn new(c: &LinuxCapabilities) -> Result<Self> {
        Ok(Self {
            bounding: convert(c.bounding().as_ref(), "bounding")?,
            effective: convert(c.effective().as_ref(), "effective")?,
            inheritable: convert(c.inheritable().as_ref(), "inheritable")?,
            permitted: convert(c.permitted().as_ref(), "permitted")?,
            ambient: convert(c.ambient().as_ref(), "ambient")?,
        })
    }

    /// Drops what is not in the bounding set. Needs CAP_SETPCAP, so it
    /// runs before the uid switch.
    pub fn apply_bounding(&self) -> Result<()> {
        for cap in caps::all() {
            if self.bounding.contains(&cap) {
                continue;
            }
            // Dropping a capability already out of the set succeeds, so no
            // PR_CAPBSET_READ first (41 fewer calls); EINVAL is a capability
            // this kernel does not know, which nothing can hold.
            // SAFETY: prctl with integer arguments.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAPBSET_DROP,
                    libc::c_ulong::from(cap.index()),
                    0,
                    0,
                    0,
                )
            };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(Error::Init(format!(
                        "failed to drop {cap} from the bounding set: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Sets permitted, inheritable, effective, then raises ambient. Runs
    /// after the uid switch (with PR_SET_KEEPCAPS held across it).
    pub fn apply_rest(&self) -> Result<()> {
        // One capset(2) for the three sets, as runc does: with separate
        // calls, narrowing permitted first would forbid an inheritable set
        // that reaches beyond it (valid within the bounding set).
        capset(&self.effective, &self.permitted, &self.inheritable)?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| Error::Init(format!("failed to clear ambient capabilities: {e}")))?;
        for cap in &self.ambient {
            // An ambient capability must also be permitted and inheritable;
            // runc's own template lists ambient ones without inheritable,
            // and runc only warns when raising fails. Do the same: skip.
            let _ = caps::raise(None, CapSet::Ambient, *cap);
        }
        Ok(())
    }
}

fn mask(set: &HashSet<Capability>) -> u64 {
    set.iter().fold(0u64, |m, c| m | (1u64 << c.index()))
}

/// capset(2) with version 3 headers: effective, permitted and inheritable
/// in one call.
fn capset(
    effective: &HashSet<Capability>,
    permitted: &HashSet<Capability>,
    inheritable: &HashSet<Capability>,
) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let (e, p, i) = (mask(effective), mask(permitted), mask(inheritable));
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: e as u32,
            permitted: p as u32,
            inheritable: i as u32,
        },
        Data {
            effective: (e >> 32) as u32,
            permitted: (p >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    // SAFETY: a v3 header and the two data structs v3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if rc != 0 {
        return Err(Error::Init(format!(
            "failed to set capabilities (effective {e:#x}, permitted {p:#x}, inheritable {i:#x}): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}
