//! Loading and validating a bundle: `config.json` plus its root filesystem.
//!
//! Everything is checked here, before the runtime touches the system, so a
//! bad config fails with the file, the field and the value, and leaves
//! nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::mount_options;
use crate::{Error, Result};

/// A loaded and validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// `<dir>/config.json`.
    pub config_path: PathBuf,
    /// The parsed configuration.
    pub spec: Spec,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
    /// config.json as read, saved with the state so later commands (exec)
    /// see the config of create time, not a later edit.
    pub raw: Vec<u8>,
}

/// Checks a container id: `[A-Za-z0-9_+.-]+`, not `.` or `..`, as runc.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_owned()))
    }
}

impl Bundle {
    /// Reads `<dir>/config.json` and validates it.
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(Error::io("resolve bundle path", dir))?;
        let config_path = dir.join("config.json");
        let bytes = std::fs::read(&config_path).map_err(Error::io("read", &config_path))?;
        // The plain parse first; only a config that fails it is parsed
        // again with the path tracking that names the bad field (which
        // doubles the cost of every parse).
        let spec: Spec = match serde_json::from_slice(&bytes) {
            Ok(spec) => spec,
            Err(_) => {
                let de = &mut serde_json::Deserializer::from_slice(&bytes);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let field = e.path().to_string();
                    Error::Config {
                        file: config_path.clone(),
                        field,
                        reason: e.into_inner().to_string(),
                    }
                })?
            }
        };
        let root = spec.root().as_ref().ok_or_else(|| Error::Config {
            file: config_path.clone(),
            field: "root".into(),
            reason: "is missing".into(),
        })?;
        let rootfs = dir.join(root.path());
        let bundle = Self {
            dir,
            config_path,
            spec,
            rootfs,
            raw: bytes,
        };
        bundle.validate()?;
        Ok(bundle)
    }

    fn bad(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Config {
            file: self.config_path.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn validate(&self) -> Result<()> {
        let spec = &self.spec;
        match std::fs::metadata(&self.rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(self.bad(
                    "root.path",
                    format!("{} is not a directory", self.rootfs.display()),
                ))
            }
            Err(e) => return Err(self.bad("root.path", format!("{}: {e}", self.rootfs.display()))),
        }
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| self.bad("process", "is missing"))?;
        match process.args() {
            Some(a) if !a.is_empty() && !a[0].is_empty() => {}
            _ => return Err(self.bad("process.args", "must name the program to run")),
        }
        if !process.cwd().is_absolute() {
            return Err(self.bad(
                "process.cwd",
                format!("{:?} is not an absolute path", process.cwd()),
            ));
        }
        if let Some(p) = process
            .apparmor_profile()
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            if !crate::lsm::apparmor_enabled() {
                return Err(self.lsm("process.apparmorProfile", p, "apparmor"));
            }
        }
        if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
            if !crate::lsm::selinux_enabled() {
                return Err(self.lsm("process.selinuxLabel", l, "selinux"));
            }
        }
        let Some(linux) = spec.linux() else {
            return Err(self.bad("linux", "is missing: berth runs Linux containers"));
        };
        let namespaces = linux.namespaces().as_deref().unwrap_or_default();
        let mut seen = HashSet::new();
        for (i, ns) in namespaces.iter().enumerate() {
            if !seen.insert(ns.typ()) {
                return Err(self.bad(
                    format!("linux.namespaces[{i}].type"),
                    format!("{} is listed twice", ns.typ()),
                ));
            }
            if let Some(path) = ns.path() {
                if !path.is_absolute() {
                    return Err(self.bad(
                        format!("linux.namespaces[{i}].path"),
                        format!("{path:?} is not absolute"),
                    ));
                }
                if let Err(e) = std::fs::metadata(path) {
                    return Err(self.bad(
                        format!("linux.namespaces[{i}].path"),
                        format!("{}: {e}", path.display()),
                    ));
                }
                if ns.typ() == LinuxNamespaceType::Mount {
                    return Err(Error::Unsupported(format!(
                        "joining an existing {} namespace (linux.namespaces[{i}].path)",
                        ns.typ()
                    )));
                }
            }
        }
        let has_new = |t: LinuxNamespaceType| {
            namespaces
                .iter()
                .any(|n| n.typ() == t && n.path().is_none())
        };
        if !has_new(LinuxNamespaceType::Mount) {
            return Err(self.bad(
                "linux.namespaces",
                "a new mount namespace (type \"mount\") is required",
            ));
        }
        if has_new(LinuxNamespaceType::User)
            && namespaces.iter().any(|n| {
                n.path().is_some()
                    && !matches!(n.typ(), LinuxNamespaceType::Pid | LinuxNamespaceType::Time)
            })
        {
            return Err(Error::Unsupported(
                "joining namespaces by path together with a new user namespace".into(),
            ));
        }
        // A joined user namespace: init joins it, then makes the other new
        // namespaces, which it then owns. The pid namespace comes from the
        // clone, before that, so it would belong to the host's and /proc
        // could not be mounted: it must be joined too.
        let joins_user = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        if joins_user
            && !namespaces
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_some())
        {
            return Err(Error::Unsupported(
                "joining a user namespace (linux.namespaces, type \"user\" with a path) without \
                 joining a pid namespace it owns (type \"pid\" with a path)"
                    .into(),
            ));
        }
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
            && !has_new(LinuxNamespaceType::Uts)
        {
            return Err(self.bad("hostname", "setting the hostname needs a new uts namespace"));
        }
        if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
            && !has_new(LinuxNamespaceType::Uts)
        {
            return Err(self.bad(
                "domainname",
                "setting the domainname needs a new uts namespace",
            ));
        }
        if has_new(LinuxNamespaceType::User) {
            if linux
                .uid_mappings()
                .as_deref()
                .unwrap_or_default()
                .is_empty()
            {
                return Err(self.bad(
                    "linux.uidMappings",
                    "a new user namespace needs uid mappings",
                ));
            }
            if linux
                .gid_mappings()
                .as_deref()
                .unwrap_or_default()
                .is_empty()
            {
                return Err(self.bad(
                    "linux.gidMappings",
                    "a new user namespace needs gid mappings",
                ));
            }
        }
        if linux.time_offsets().is_some() && !has_new(LinuxNamespaceType::Time) {
            return Err(self.bad("linux.timeOffsets", "offsets need a new time namespace"));
        }
        for key in linux.time_offsets().iter().flat_map(|m| m.keys()) {
            if key != "monotonic" && key != "boottime" {
                return Err(self.bad(
                    format!("linux.timeOffsets.{key}"),
                    "only monotonic and boottime clocks can be offset",
                ));
            }
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !matches!(
                p.as_str(),
                "" | "private"
                    | "rprivate"
                    | "slave"
                    | "rslave"
                    | "shared"
                    | "rshared"
                    | "unbindable"
                    | "runbindable"
            ) {
                return Err(self.bad(
                    "linux.rootfsPropagation",
                    format!("{p:?} is not a propagation mode"),
                ));
            }
        }
        for (key, _) in linux.sysctl().iter().flatten() {
            if key.is_empty() || key.contains("..") || key.contains('/') && key.contains('.') {
                return Err(self.bad(format!("linux.sysctl.{key}"), "is not a valid sysctl name"));
            }
        }
        for (field, set) in [
            ("linux.intelRdt", linux.intel_rdt().is_some()),
            (
                "linux.netDevices",
                linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
            ),
        ] {
            if set {
                return Err(Error::Unsupported(format!(
                    "{field} (in {})",
                    self.config_path.display()
                )));
            }
        }
        if let Some(l) = linux.mount_label().as_deref().filter(|l| !l.is_empty()) {
            if !crate::lsm::selinux_enabled() {
                return Err(self.lsm("linux.mountLabel", l, "selinux"));
            }
        }
        for (i, dev) in linux.devices().iter().flatten().enumerate() {
            if !dev.path().is_absolute()
                || dev
                    .path()
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(self.bad(
                    format!("linux.devices[{i}].path"),
                    format!("{:?} must be an absolute path without '..'", dev.path()),
                ));
            }
        }
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let opts = m.options().as_deref().unwrap_or_default();
            let parsed = mount_options::parse(m.typ().as_deref(), opts).map_err(|b| {
                self.bad(
                    format!("mounts[{i}].options[{}]", b.index),
                    format!("{:?}: {}", b.option, b.reason),
                )
            })?;
            if parsed.idmap.is_some() || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
                if !parsed.is_bind() {
                    return Err(self.bad(
                        format!("mounts[{i}]"),
                        "idmapped mounts must be bind mounts",
                    ));
                }
                let (uids, gids) = idmap_mappings(&self.spec, m);
                if uids.is_empty() || gids.is_empty() {
                    return Err(self.bad(
                        format!("mounts[{i}].uidMappings"),
                        "an idmapped mount needs uidMappings and gidMappings (on the mount or in linux)",
                    ));
                }
            }
            if m.destination()
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(self.bad(
                    format!("mounts[{i}].destination"),
                    format!("{:?} must not contain '..'", m.destination()),
                ));
            }
            if parsed.is_bind() {
                let src = m.source().as_ref().ok_or_else(|| {
                    self.bad(format!("mounts[{i}].source"), "a bind mount needs a source")
                })?;
                let src = self.dir.join(src);
                if let Err(e) = std::fs::metadata(&src) {
                    return Err(self.bad(
                        format!("mounts[{i}].source"),
                        format!("{}: {e}", src.display()),
                    ));
                }
            } else if m.typ().as_deref().unwrap_or("").is_empty() {
                return Err(self.bad(
                    format!("mounts[{i}].type"),
                    "is required unless the mount is a bind mount",
                ));
            }
        }
        for (kind, hooks) in hook_lists(spec) {
            for (i, h) in hooks.iter().enumerate() {
                if !h.path().is_absolute() {
                    return Err(self.bad(
                        format!("hooks.{kind}[{i}].path"),
                        format!("{:?} is not absolute", h.path()),
                    ));
                }
                if h.timeout().is_some_and(|t| t <= 0) {
                    return Err(self.bad(
                        format!("hooks.{kind}[{i}].timeout"),
                        "must be greater than zero",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The error for an LSM label: the LSM is not active on this host
    /// (the usual case here), or berth cannot apply its labels yet.
    /// The error for a label of an LSM that is not active here.
    fn lsm(&self, field: &str, value: &str, lsm: &str) -> Error {
        self.bad(
            field,
            format!("{value:?}: {lsm} is not enabled on this host"),
        )
    }

    /// The namespace entry of `typ`, if the config lists one.
    pub fn namespace(&self, typ: LinuxNamespaceType) -> Option<&oci_spec::runtime::LinuxNamespace> {
        self.spec
            .linux()
            .as_ref()?
            .namespaces()
            .as_ref()?
            .iter()
            .find(|n| n.typ() == typ)
    }
}

/// The mappings of an idmapped mount: its own, else the container's.
pub fn idmap_mappings(
    spec: &Spec,
    m: &oci_spec::runtime::Mount,
) -> (
    Vec<oci_spec::runtime::LinuxIdMapping>,
    Vec<oci_spec::runtime::LinuxIdMapping>,
) {
    let linux = spec.linux().as_ref();
    let uids = m
        .uid_mappings()
        .clone()
        .or_else(|| linux.and_then(|l| l.uid_mappings().clone()))
        .unwrap_or_default();
    let gids = m
        .gid_mappings()
        .clone()
        .or_else(|| linux.and_then(|l| l.gid_mappings().clone()))
        .unwrap_or_default();
    (uids, gids)
}

/// Every hook list of the spec with its config name.
pub fn hook_lists(spec: &Spec) -> Vec<(&'static str, &[oci_spec::runtime::Hook])> {
    let Some(h) = spec.hooks() else {
        return Vec::new();
    };
    #[allow(deprecated)]
    let prestart = h.prestart();
    [
        ("prestart", prestart),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.as_deref().unwrap_or_default()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &serde_json::Value) -> (tempfile::TempDir, Result<Bundle>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let b = Bundle::load(dir.path());
        (dir, b)
    }

    fn base() -> serde_json::Value {
        serde_json::from_str(&crate::spec_template::render("1.2.1", false, false)).unwrap()
    }

    #[test]
    fn ids() {
        for ok in ["a", "A-b_c.d+e", "123"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn template_is_valid() {
        let (_d, b) = bundle_with(&base());
        b.unwrap();
    }

    #[test]
    fn unknown_namespace_type_names_the_field() {
        let mut c = base();
        c["linux"]["namespaces"][1]["type"] = "bogus".into();
        let (_d, b) = bundle_with(&c);
        let msg = b.unwrap_err().to_string();
        assert!(
            msg.contains("linux.namespaces[1].type") && msg.contains("bogus"),
            "{msg}"
        );
        assert!(msg.contains("config.json"), "{msg}");
    }

    #[test]
    fn missing_rootfs() {
        let mut c = base();
        c["root"]["path"] = "nope".into();
        let (_d, b) = bundle_with(&c);
        let msg = b.unwrap_err().to_string();
        assert!(msg.contains("root.path") && msg.contains("nope"), "{msg}");
    }

    #[test]
    fn duplicate_namespace() {
        let mut c = base();
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "pid"}));
        let (_d, b) = bundle_with(&c);
        assert!(b.unwrap_err().to_string().contains("listed twice"));
    }

    #[test]
    fn bad_mount_option() {
        let mut c = base();
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/x", "type": "bind", "source": "/tmp", "options": ["rbind", "nosiud"]
        }));
        let (_d, b) = bundle_with(&c);
        let msg = b.unwrap_err().to_string();
        assert!(
            msg.contains(".options[1]") && msg.contains("nosiud"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), "{\"process\": 3}").unwrap();
        let msg = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("process"), "{msg}");
    }
}
