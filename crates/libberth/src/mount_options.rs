//! Parsing of OCI mount options into mount(2) flags, propagation changes,
//! recursive attributes (mount_setattr(2)) and filesystem data.
//!
//! The option vocabulary is mount(8)'s, plus the recursive `r*` forms the
//! runtime spec added in 1.1 (`rro`, `rnosuid`, …).

use nix::mount::MsFlags;

/// `MOUNT_ATTR_*` bits of mount_setattr(2) (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// The parsed form of one mount's `options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set on mount(2).
    pub flags: MsFlags,
    /// Flags an option explicitly cleared (`rw`, `suid`, …).
    pub cleared: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes to set with mount_setattr(2).
    pub attr_set: u64,
    /// Recursive attributes to clear with mount_setattr(2).
    pub attr_clr: u64,
    /// Options passed to the filesystem as the data string.
    pub data: Vec<String>,
    /// `idmap` (Some(false)) or `ridmap` (Some(true), recursive).
    pub idmap: Option<bool>,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            attr_set: 0,
            attr_clr: 0,
            data: Vec::new(),
            idmap: None,
        }
    }
}

impl MountOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The data string for mount(2), `None` when empty.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

fn flag(name: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match name {
        "async" => (true, F::MS_SYNCHRONOUS),
        "atime" => (true, F::MS_NOATIME),
        "bind" => (false, F::MS_BIND),
        "defaults" => (false, F::empty()),
        "dev" => (true, F::MS_NODEV),
        "diratime" => (true, F::MS_NODIRATIME),
        "dirsync" => (false, F::MS_DIRSYNC),
        "exec" => (true, F::MS_NOEXEC),
        "iversion" => (false, F::MS_I_VERSION),
        "lazytime" => (false, F::MS_LAZYTIME),
        "loud" => (true, F::MS_SILENT),
        "mand" => (false, F::MS_MANDLOCK),
        "noatime" => (false, F::MS_NOATIME),
        "nodev" => (false, F::MS_NODEV),
        "nodiratime" => (false, F::MS_NODIRATIME),
        "noexec" => (false, F::MS_NOEXEC),
        "noiversion" => (true, F::MS_I_VERSION),
        "nolazytime" => (true, F::MS_LAZYTIME),
        "nomand" => (true, F::MS_MANDLOCK),
        "norelatime" => (true, F::MS_RELATIME),
        "nostrictatime" => (true, F::MS_STRICTATIME),
        "nosuid" => (false, F::MS_NOSUID),
        "nosymfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "rbind" => (false, F::MS_BIND | F::MS_REC),
        "relatime" => (false, F::MS_RELATIME),
        "remount" => (false, F::MS_REMOUNT),
        "ro" => (false, F::MS_RDONLY),
        "rw" => (true, F::MS_RDONLY),
        "silent" => (false, F::MS_SILENT),
        "strictatime" => (false, F::MS_STRICTATIME),
        "suid" => (true, F::MS_NOSUID),
        "sync" => (false, F::MS_SYNCHRONOUS),
        "symfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        _ => return None,
    })
}

fn propagation(name: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match name {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

/// `(set, clear)` for a recursive attribute option.
fn recursive(name: &str) -> Option<(u64, u64)> {
    use attr::*;
    Some(match name {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        "rrelatime" => (RELATIME, ATIME_MASK),
        "rnorelatime" => (0, ATIME_MASK),
        "rnoatime" => (NOATIME, ATIME_MASK),
        "ratime" => (0, ATIME_MASK),
        "rstrictatime" => (STRICTATIME, ATIME_MASK),
        "rnostrictatime" => (0, ATIME_MASK),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        _ => return None,
    })
}

/// Why an option was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOption {
    /// Index in the `options` array.
    pub index: usize,
    /// The option as written.
    pub option: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses `options` of a mount of type `typ`.
///
/// A bind mount passes no data to a filesystem, so an option that is not a
/// known flag there is a mistake (a typo like `nosiud` would otherwise
/// silently leave the mount setuid-capable) and is refused.
pub fn parse(typ: Option<&str>, options: &[String]) -> Result<MountOptions, BadOption> {
    let mut o = MountOptions::default();
    let bind_type = typ == Some("bind");
    let bad = |index: usize, option: &str, reason| BadOption {
        index,
        option: option.to_owned(),
        reason,
    };
    for (i, opt) in options.iter().enumerate() {
        if let Some((clear, f)) = flag(opt) {
            if clear {
                o.flags.remove(f);
                o.cleared.insert(f);
            } else {
                o.flags.insert(f);
                o.cleared.remove(f);
            }
        } else if let Some(p) = propagation(opt) {
            o.propagation.push(p);
        } else if let Some((set, clr)) = recursive(opt) {
            o.attr_set = (o.attr_set & !clr) | set;
            o.attr_clr = (o.attr_clr & !set) | clr;
        } else if opt == "idmap" {
            o.idmap = Some(false);
        } else if opt == "ridmap" {
            o.idmap = Some(true);
        } else if opt == "tmpcopyup" {
            return Err(bad(i, opt, "tmpcopyup is not supported yet"));
        } else if opt.is_empty() {
            return Err(bad(i, opt, "empty option"));
        } else {
            o.data.push(opt.clone());
        }
    }
    if (o.is_bind() || bind_type) && !o.data.is_empty() {
        let (i, opt) = options
            .iter()
            .enumerate()
            .find(|(_, x)| o.data.contains(x))
            .map(|(i, x)| (i, x.as_str()))
            .unwrap_or((0, ""));
        return Err(bad(i, opt, "unknown option for a bind mount"));
    }
    if bind_type && !o.is_bind() {
        o.flags.insert(MsFlags::MS_BIND);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_data_split() {
        let o = parse(
            Some("tmpfs"),
            &opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
        )
        .unwrap();
        assert!(o
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME));
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
    }

    #[test]
    fn later_option_wins() {
        let o = parse(None, &opts(&["ro", "rw"])).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let o = parse(Some("bind"), &opts(&["rbind", "rprivate"])).unwrap();
        assert!(o.flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn recursive_attrs() {
        let o = parse(None, &opts(&["rbind", "rro", "rnosuid", "rnoatime"])).unwrap();
        assert_eq!(o.attr_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.attr_clr, attr::ATIME_MASK);
    }

    #[test]
    fn unknown_option_on_bind_is_refused() {
        let e = parse(Some("bind"), &opts(&["bind", "nosiud"])).unwrap_err();
        assert_eq!(e.index, 1);
        assert_eq!(e.option, "nosiud");
    }

    #[test]
    fn idmap_options() {
        assert_eq!(
            parse(Some("bind"), &opts(&["bind", "idmap"]))
                .unwrap()
                .idmap,
            Some(false)
        );
        assert_eq!(
            parse(Some("bind"), &opts(&["rbind", "ridmap"]))
                .unwrap()
                .idmap,
            Some(true)
        );
    }
}
