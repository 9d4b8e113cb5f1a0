#!/usr/bin/env bash
# Builds berth's release binary and prints its path on stdout.
#
# The release build is static, for x86_64-unknown-linux-musl: no dynamic
# loader, no glibc start-up (which probes the CPU's caches with cpuid, a
# trap to the hypervisor in a VM) and dlmalloc as its allocator. It starts
# in about half the CPU time of the dynamic glibc build and needs nothing
# on the host. When the musl target is not installed and rustup cannot add
# it (offline, no rustup), the usual glibc build is made instead, with a
# message on stderr.
#
# Usage: hack/build-berth.sh        (then: install -m 0755 "$(hack/build-berth.sh)" /usr/local/bin/berth)
#
# Environment: BERTH_TARGET=gnu forces the glibc build.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
musl=x86_64-unknown-linux-musl
log() { echo "build-berth: $*" >&2; }

want_musl() {
	[[ ${BERTH_TARGET:-musl} != gnu ]] || return 1
	[[ $(uname -m) == x86_64 ]] || return 1
	command -v rustup >/dev/null 2>&1 || return 1
	rustup target list --installed 2>/dev/null | grep -qx "$musl" && return 0
	log "adding the $musl target (rustup target add $musl)"
	# Bounded: an unreachable download server must not hang the build.
	timeout 300 rustup target add "$musl" >&2
}

cd "$repo"
if want_musl; then
	cargo build --quiet --release -p berth --target "$musl" >&2
	echo "$repo/target/$musl/release/berth"
else
	log "building the dynamic glibc binary (the static musl target is not available)"
	cargo build --quiet --release -p berth >&2
	echo "$repo/target/release/berth"
fi
