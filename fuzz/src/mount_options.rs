//! `libberth::mount_options::parse` on arbitrary mount types and options.
//!
//! Input format: the first line is the mount type (an empty line means no
//! `type`), every further line one option.

use libberth::mount_options::{attr, parse};

use crate::gen::Rng;

/// Every option the parser knows, plus filesystem data and near misses.
const OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rw",
    "silent",
    "strictatime",
    "suid",
    "sync",
    "symfollow",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rnoatime",
    "ratime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
    "idmap",
    "ridmap",
    "tmpcopyup",
    "",
    "mode=755",
    "size=65536k",
    "uid=0",
    "gid=5",
    "newinstance",
    "ptmxinstance",
    "nosiud",
    "RO",
    " ro",
    "ro,nosuid",
    "=",
    "x=",
    "lowerdir=/a:/b",
    "\u{0}",
];

const TYPES: &[&str] = &[
    "", "bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "overlay",
    "none", "BIND", "rbind",
];

/// Checks one input (see the module doc for the format).
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let typ = lines.next().filter(|t| !t.is_empty());
    let options: Vec<String> = lines.map(str::to_owned).collect();
    check_parsed(typ, &options);
}

/// The invariants of `parse(typ, options)`.
pub fn check_parsed(typ: Option<&str>, options: &[String]) {
    let first = parse(typ, options);
    assert_eq!(first, parse(typ, options), "parse is not deterministic");
    match first {
        Ok(o) => {
            assert!(
                (o.flags & o.cleared).is_empty(),
                "{options:?}: flags {:?} both set and cleared",
                o.flags & o.cleared
            );
            // The atime bits are a field, not flags: mount_setattr(2) wants
            // MOUNT_ATTR__ATIME cleared and the chosen value set.
            let both = o.attr_set & o.attr_clr & !attr::ATIME_MASK;
            assert_eq!(both, 0, "{options:?}: attributes both set and cleared");
            if typ == Some("bind") {
                assert!(o.is_bind(), "{options:?}: a bind-type mount is not MS_BIND");
            }
            if o.is_bind() {
                assert!(
                    o.data.is_empty(),
                    "{options:?}: bind mount with data {:?}",
                    o.data
                );
            }
            for d in &o.data {
                assert!(options.contains(d), "{options:?}: data {d:?} is no option");
                assert!(!d.is_empty(), "{options:?}: empty data option accepted");
            }
            assert_eq!(
                o.data_string(),
                (!o.data.is_empty()).then(|| o.data.join(","))
            );
        }
        Err(bad) => {
            assert!(
                bad.index < options.len(),
                "{options:?}: error index {} out of range",
                bad.index
            );
            assert_eq!(options[bad.index], bad.option, "error names another option");
            assert!(!bad.reason.is_empty());
        }
    }
}

/// A type line and 0-11 options, mostly known ones.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::from(*rng.pick(TYPES));
    if rng.one_in(10) {
        out = rng.interesting_string().replace('\n', "");
    }
    for _ in 0..rng.below(12) {
        out.push('\n');
        if rng.one_in(8) {
            out.push_str(&rng.interesting_string().replace('\n', ""));
        } else {
            out.push_str(rng.pick::<&str>(OPTIONS));
        }
    }
    out.into_bytes()
}
