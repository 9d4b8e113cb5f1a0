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
            if !self.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                    Error::Init(format!("failed to drop {cap} from the bounding set: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// Sets permitted, inheritable, effective, then raises ambient. Runs
    /// after the uid switch (with PR_SET_KEEPCAPS held across it).
    pub fn apply_rest(&self) -> Result<()> {
        let set = |which: CapSet, v: &HashSet<Capability>, name: &str| {
            caps::set(None, which, v)
                .map_err(|e| Error::Init(format!("failed to set {name} capabilities: {e}")))
        };
        // Effective must stay a subset of permitted at every step.
        set(
            CapSet::Effective,
            &self
                .effective
                .intersection(&self.permitted)
                .copied()
                .collect(),
            "effective",
        )?;
        set(CapSet::Permitted, &self.permitted, "permitted")?;
        set(CapSet::Inheritable, &self.inheritable, "inheritable")?;
        set(CapSet::Effective, &self.effective, "effective")?;
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
