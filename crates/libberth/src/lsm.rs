//! Linux security module labels: `process.apparmorProfile`,
//! `process.selinuxLabel` and `linux.mountLabel`, applied as runc applies
//! them where the LSM is active; where it is not, the bundle is refused
//! with an error naming the field (see `bundle`).
//!
//! The labels take effect at the execve: AppArmor's `exec PROFILE` and
//! SELinux's exec context are written to the process's attr files just
//! before it, through [`crate::sys::write_proc`], which refuses anything
//! but procfs itself (CVE-2025-52881: a rootfs that redirects
//! `/proc/self/attr/…` must not turn the write into a write elsewhere).

use crate::error::{Error, Result};
use oci_spec::runtime::Process;

/// Whether AppArmor is enabled, as runc decides it.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim_start().starts_with('Y'))
}

/// Whether SELinux is enabled: selinuxfs is mounted.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// What to write where for `process`'s labels: (attr file, value).
pub fn exec_writes(process: &Process, apparmor_new_attr: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        // Kernels with stacked LSMs have AppArmor's own attr directory; the
        // shared file is the fallback of older ones.
        let file = if apparmor_new_attr {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        out.push((file, format!("exec {p}")));
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        out.push(("/proc/self/attr/exec", l.to_string()));
    }
    out
}

/// Sets the labels the next execve gives the process.
pub fn apply_exec_labels(process: &Process) -> Result<()> {
    let set = |l: &Option<String>| l.as_deref().is_some_and(|l| !l.is_empty());
    if !set(process.apparmor_profile()) && !set(process.selinux_label()) {
        // The usual case, on every container start: not even a stat.
        return Ok(());
    }
    let new_attr = std::path::Path::new("/proc/self/attr/apparmor/exec").exists();
    for (file, value) in exec_writes(process, new_attr) {
        crate::sys::write_proc(file, &value).map_err(|e| {
            Error::Init(format!(
                "failed to set the exec label {value:?} in {file}: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Mount data with SELinux's `context=` for `linux.mountLabel`, as runc's
/// `label.FormatMountLabel`: every mount but binds and the kernel's own
/// proc, sysfs and cgroup filesystems, which take no context.
pub fn mount_data(
    typ: &str,
    bind: bool,
    data: Option<String>,
    label: Option<&str>,
) -> Option<String> {
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        return data;
    };
    if bind || matches!(typ, "proc" | "sysfs" | "cgroup" | "cgroup2") {
        return data;
    }
    let ctx = format!("context=\"{label}\"");
    Some(match data {
        Some(d) if !d.is_empty() => format!("{d},{ctx}"),
        _ => ctx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;

    #[test]
    fn exec_labels_go_to_the_right_attr_files() {
        let p = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .apparmor_profile("docker-default")
            .selinux_label("system_u:system_r:container_t:s0:c1,c2")
            .build()
            .unwrap();
        assert_eq!(
            exec_writes(&p, true),
            [
                (
                    "/proc/self/attr/apparmor/exec",
                    "exec docker-default".to_string()
                ),
                (
                    "/proc/self/attr/exec",
                    "system_u:system_r:container_t:s0:c1,c2".to_string()
                ),
            ]
        );
        assert_eq!(exec_writes(&p, false)[0].0, "/proc/self/attr/exec");
        let none = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .build()
            .unwrap();
        assert!(exec_writes(&none, true).is_empty());
    }

    #[test]
    fn mount_label_goes_into_the_data_of_mounts_that_take_it() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data("tmpfs", false, Some("mode=755".into()), l).as_deref(),
            Some("mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(
            mount_data("mqueue", false, None, l).as_deref(),
            Some("context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        for typ in ["proc", "sysfs", "cgroup", "cgroup2"] {
            assert_eq!(mount_data(typ, false, None, l), None, "{typ}");
        }
        assert_eq!(
            mount_data("none", true, Some("x".into()), l).as_deref(),
            Some("x")
        );
        assert_eq!(
            mount_data("tmpfs", false, Some("x".into()), None).as_deref(),
            Some("x")
        );
    }
}
