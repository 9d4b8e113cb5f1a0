#!/usr/bin/env bash
# Install the Debian packages the test suite, the demo and the benchmarks
# need. Idempotent: silent and quick when everything is already there; runs
# `apt-get update` only when a package is missing and cannot be installed from
# the current package lists.
#
# Usage: hack/install-deps.sh [EXTRA_PACKAGE...]
set -euo pipefail

# busybox-static: test rootfs; runc, crun: reference runtimes; hyperfine:
# benchmarks; jq: JSON in scripts; strace: syscall counting; iproute2 (ip):
# network namespace tests; uidmap (newuidmap/newgidmap): rootless tests;
# libseccomp-dev: berth-seccomp's differential tests against libseccomp;
# nftables (nft): pier-net's NAT and port rules.
packages=(busybox-static runc crun hyperfine jq strace iproute2 uidmap libseccomp-dev nftables "$@")
# The callers of the integration tests (integration/): containerd (ctr and the
# runc shim), docker.io (dockerd), podman (with conmon); skopeo and umoci build
# their image (hack/mkimage.sh); python3-grpcio runs integration/cri.py, the
# CRI client that stands in for the kubelet (Debian has no crictl).
packages+=(containerd docker.io podman skopeo umoci python3-grpcio)
# pier's registry tests (crates/pier/tests): a local registry and htpasswd
# for its basic-auth instance, openssl for the token server of its token-auth
# instance.
packages+=(docker-registry apache2-utils openssl)
# pier's containers: tini-static is what `pier run --init` mounts as pid 1.
packages+=(tini)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${packages[@]}"; do
	installed "$pkg" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt's output goes to a log, shown only when a step fails.
quietly() {
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		return 1
	fi
}
apt_install() {
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

echo "install-deps: installing ${missing[*]}" >&2
# A fresh machine has empty package lists; an old one may have stale ones.
# Try the lists we have first and refresh only if that fails.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! apt_install >"$log" 2>&1; then
	echo "install-deps: updating package lists" >&2
	quietly apt-get update -q
	quietly apt_install
fi

for pkg in "${missing[@]}"; do
	if ! installed "$pkg"; then
		echo "install-deps: $pkg is still not installed" >&2
		exit 1
	fi
done
echo "install-deps: done" >&2
