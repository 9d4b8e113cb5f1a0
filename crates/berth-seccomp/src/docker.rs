//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`)
//! and Docker's default capability set, for callers that want a container
//! confined as `docker run` confines it (pier does).
//!
//! moby's file is not an OCI profile: rules carry `includes`/`excludes` on
//! architectures and capabilities. [`default_profile`] resolves them as
//! moby's `setupSeccomp` does, for one architecture and the container's
//! capabilities (a container with `CAP_SYS_ADMIN` may call `mount`, and so
//! on).

use serde_json::{json, Value};

/// moby's default profile, verbatim.
pub const DEFAULT_PROFILE_JSON: &str = include_str!("docker-default.json");

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The Go name of the architecture this program runs on (`amd64`,
/// `arm64`), as moby's profile names them.
pub fn native_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

/// The OCI `linux.seccomp` object moby makes from its default profile for
/// `goarch` and a container with capabilities `caps` (`CAP_` names).
pub fn default_profile(goarch: &str, caps: &[&str]) -> Value {
    let raw: Value = match serde_json::from_str(DEFAULT_PROFILE_JSON) {
        Ok(v) => v,
        // The file is compiled in and covered by the tests below.
        Err(_) => return Value::Null,
    };
    let native = match goarch {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "386" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        _ => "",
    };
    let mut arches = vec![];
    for m in raw["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == native {
            arches.push(m["architecture"].clone());
            arches.extend(
                m["subArchitectures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let has = |list: &Value, x: &str| list.as_array().is_some_and(|l| l.iter().any(|v| v == x));
    let mut syscalls = vec![];
    for c in raw["syscalls"].as_array().into_iter().flatten() {
        let (inc, exc) = (&c["includes"], &c["excludes"]);
        if inc["arches"].is_array() && !has(&inc["arches"], goarch) {
            continue;
        }
        if let Some(need) = inc["caps"].as_array() {
            if !need.iter().all(|n| caps.iter().any(|c| n == c)) {
                continue;
            }
        }
        if has(&exc["arches"], goarch) {
            continue;
        }
        if let Some(ex) = exc["caps"].as_array() {
            if ex.iter().any(|n| caps.iter().any(|c| n == c)) {
                continue;
            }
        }
        let mut s = json!({"names": c["names"], "action": c["action"]});
        if !c["args"].is_null() {
            s["args"] = c["args"].clone();
        }
        if !c["errnoRet"].is_null() {
            s["errnoRet"] = c["errnoRet"].clone();
        }
        syscalls.push(s);
    }
    json!({
        "defaultAction": raw["defaultAction"],
        "defaultErrnoRet": raw["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_parses_and_depends_on_caps() {
        let plain = default_profile("amd64", DEFAULT_CAPS);
        assert_eq!(plain["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(plain["architectures"][0], "SCMP_ARCH_X86_64");
        let names = |p: &Value| -> Vec<String> {
            p["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["names"].as_array().unwrap().clone())
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        };
        assert!(!names(&plain).contains(&"mount".to_string()));
        let mut admin = DEFAULT_CAPS.to_vec();
        admin.push("CAP_SYS_ADMIN");
        assert!(names(&default_profile("amd64", &admin)).contains(&"mount".to_string()));
        serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(plain).unwrap();
    }
}
