//! The device cgroup: which device nodes the container may open, mknod,
//! read or write. On v1 the rules are written to `devices.deny` and
//! `devices.allow` in order; the default devices every container gets and
//! `linux.devices` are allowed after the config's rules, as runc does.

use std::path::Path;

use berth_cgroups::Layout;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use crate::{Error, Result};

/// One rule in the kernel's `type major:minor access` form.
fn rule(
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> String {
    let t = match typ {
        None | Some(LinuxDeviceType::A) => "a",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C | LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
    };
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_owned(), |n| n.to_string())
    };
    if t == "a" && major.is_none() && minor.is_none() {
        return "a".to_owned();
    }
    format!("{t} {}:{} {access}", num(major), num(minor))
}

/// The default devices (null, zero, full, random, urandom, tty) plus
/// /dev/pts and /dev/ptmx, as runc allows them; like runc, creating any
/// device node (`m`) is allowed, opening it is not.
const DEFAULT_ALLOW: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// Applies the device rules for the container's cgroup.
pub fn apply(
    layout: &Layout,
    cgroup_path: &str,
    rules: &[LinuxDeviceCgroup],
    devices: &[LinuxDevice],
) -> Result<()> {
    let Some(h) = layout.v1("devices") else {
        // cgroup v2: an eBPF device program on the container's cgroup.
        let Some(unified) = layout.unified() else {
            return Ok(());
        };
        let dir = unified
            .mount_point
            .join(cgroup_path.trim_start_matches('/'));
        let mut all: Vec<LinuxDeviceCgroup> = rules.to_vec();
        for d in DEFAULT_ALLOW
            .iter()
            .map(|r| parse_rule(r))
            .chain(devices.iter().map(|d| {
                let mut r = LinuxDeviceCgroup::default();
                r.set_allow(true);
                r.set_typ(Some(d.typ()));
                r.set_major(Some(d.major()));
                r.set_minor(Some(d.minor()));
                r.set_access(Some("rwm".into()));
                r
            }))
        {
            all.push(d);
        }
        return berth_cgroups::apply_device_rules_v2(&dir, &all).map_err(Into::into);
    };
    let dir = h.mount_point.join(cgroup_path.trim_start_matches('/'));
    // One open file per control file: the kernel takes each write(2) as one
    // rule, so the ~15 rules of a container cost a write each, not an
    // open, a write and a close.
    let mut files: Vec<(String, std::fs::File)> = Vec::with_capacity(2);
    let mut write = |file: &str, value: &str| -> Result<()> {
        use std::io::Write as _;
        let path = dir.join(file);
        let fail = |e: std::io::Error| {
            Error::Init(format!(
                "failed to write {value:?} to {}: {e}",
                Path::new(&path).display()
            ))
        };
        let idx = match files.iter().position(|(n, _)| n == file) {
            Some(i) => i,
            None => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(fail)?;
                files.push((file.to_owned(), f));
                files.len() - 1
            }
        };
        let n = files[idx].1.write(value.as_bytes()).map_err(fail)?;
        if n != value.len() {
            return Err(fail(std::io::Error::from(std::io::ErrorKind::WriteZero)));
        }
        Ok(())
    };
    for (i, r) in rules.iter().enumerate() {
        let access = r.access().as_deref().unwrap_or("rwm");
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(Error::Init(format!("linux.resources.devices[{i}].access: {access:?} must be a combination of r, w and m")));
        }
        let line = rule(r.typ(), r.major(), r.minor(), access);
        write(
            if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            },
            &line,
        )?;
    }
    for d in DEFAULT_ALLOW {
        write("devices.allow", d)?;
    }
    for d in devices {
        write(
            "devices.allow",
            &rule(Some(d.typ()), Some(d.major()), Some(d.minor()), "rwm"),
        )?;
    }
    Ok(())
}

/// One of [`DEFAULT_ALLOW`] as an OCI rule.
fn parse_rule(r: &str) -> LinuxDeviceCgroup {
    let mut out = LinuxDeviceCgroup::default();
    let mut parts = r.split(' ');
    let typ = match parts.next() {
        Some("b") => LinuxDeviceType::B,
        _ => LinuxDeviceType::C,
    };
    let (major, minor) = parts
        .next()
        .and_then(|n| n.split_once(':'))
        .unwrap_or(("*", "*"));
    out.set_allow(true);
    out.set_typ(Some(typ));
    out.set_major(major.parse().ok());
    out.set_minor(minor.parse().ok());
    out.set_access(parts.next().map(str::to_owned));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_forms() {
        assert_eq!(rule(None, None, None, "rwm"), "a");
        assert_eq!(
            rule(Some(LinuxDeviceType::C), Some(1), Some(3), "rw"),
            "c 1:3 rw"
        );
        assert_eq!(
            rule(Some(LinuxDeviceType::B), Some(8), None, "r"),
            "b 8:* r"
        );
        assert_eq!(
            rule(Some(LinuxDeviceType::U), Some(4), Some(-1), "m"),
            "c 4:* m"
        );
    }
}
