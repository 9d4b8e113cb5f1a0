# moby's default seccomp profile, in moby's own format (archMap,
# includes/excludes), to the OCI `linux.seccomp` that moby's setupSeccomp
# makes of it for one architecture and one capability set: the same
# conversion as docker_profile() in crates/berth-seccomp/tests/differential.rs.
# minKernel is not checked (every rule's minimum is far below 6.x).
#
# Input: crates/berth-seccomp/tests/data/docker-default.json
# $goarch: "amd64" or "arm64"; $caps: the container's capabilities (array).

def inlist($x): type == "array" and any(.[]; . == $x);

(if $goarch == "amd64" then "SCMP_ARCH_X86_64" else "SCMP_ARCH_AARCH64" end) as $native
| {
    defaultAction,
    defaultErrnoRet,
    architectures: [ .archMap[] | select(.architecture == $native)
                     | .architecture, (.subArchitectures // [])[] ],
    syscalls: [
      .syscalls[]
      | select((.includes.arches | type) != "array" or (.includes.arches | inlist($goarch)))
      | select((.includes.caps | type) != "array"
               or all(.includes.caps[]; . as $n | $caps | inlist($n)))
      | select(.excludes.arches | inlist($goarch) | not)
      | select((.excludes.caps | type) != "array"
               or (any(.excludes.caps[]; . as $n | $caps | inlist($n)) | not))
      | {names, action}
        + (if .args != null then {args} else {} end)
        + (if .errnoRet != null then {errnoRet} else {} end)
    ]
  }
