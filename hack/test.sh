#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): installs the test
# dependencies, checks formatting and lints, builds, and runs every test,
# the end-to-end ones included (they run real containers, so: root).
#
# Usage: sudo hack/test.sh [-- CARGO_TEST_ARGS... [-- TEST_BINARY_ARGS...]]
#   hack/test.sh -- lifecycle                 tests whose name contains "lifecycle"
#   hack/test.sh -- -p berth-e2e              only the end-to-end crate
#   hack/test.sh -- -p libberth -- --nocapture
#
# Environment:
#   LINT=0     skip `cargo fmt --check` and clippy (for quick local iterations)
#   CONTROL=0  skip the control runs (e2e, integration and pier's container
#              suites with runc as the runtime)
#   RELEASE=0  skip the end-to-end suite against the release binary
#              (hack/build-berth.sh: static musl when it can)
#
# Exported to the tests:
#   BERTH_BIN            the debug berth binary built here
#   BERTH_ROOTFS_SCRIPT  hack/mkrootfs.sh, which tests call to make a rootfs
set -euo pipefail

usage() { sed -n '5,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

case ${1:-} in
-h | --help) usage ;;
--) shift ;;
esac
cargo_args=()
bin_args=()
while [[ $# -gt 0 ]]; do
	if [[ $1 == -- ]]; then
		shift
		bin_args=("$@")
		break
	fi
	cargo_args+=("$1")
	shift
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ $(id -u) -ne 0 ]]; then
	echo "test: must run as root: the end-to-end tests create namespaces, cgroups and mounts (try: sudo $0)" >&2
	exit 1
fi

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
hack/install-deps.sh

[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH
if ! command -v cargo >/dev/null 2>&1; then
	echo "test: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
	exit 1
fi

if [[ ${LINT:-1} != 0 ]]; then
	step "cargo fmt --all -- --check"
	cargo fmt --all -- --check

	step "cargo clippy --workspace --all-targets -- -D warnings"
	cargo clippy --workspace --all-targets -- -D warnings
fi

step "cargo build --workspace"
cargo build --workspace

export BERTH_BIN=$repo/target/debug/berth
export BERTH_ROOTFS_SCRIPT=$repo/hack/mkrootfs.sh
[[ -x $BERTH_BIN ]] || { echo "test: $BERTH_BIN was not built" >&2; exit 1; }

# `-p CRATE` narrows the run; otherwise test the whole workspace.
scope=(--workspace)
for a in "${cargo_args[@]}"; do
	case $a in -p | --package | -p?* | --package=*) scope=() ;; esac
done
# Two test threads: the e2e tests start real containers on a 2-core machine.
threads=(--test-threads=2)
for a in "${bin_args[@]}"; do
	case $a in --test-threads*) threads=() ;; esac
done

cmd=(cargo test "${scope[@]}" "${cargo_args[@]}" -- "${threads[@]}" "${bin_args[@]}")
step "${cmd[*]}"
"${cmd[@]}"
# The control: the end-to-end and integration suites again with runc as the
# runtime, so a failure can be told apart from a harness problem. Only on a
# full run (no filter given).
if [[ ${#cargo_args[@]} -eq 0 && ${CONTROL:-1} != 0 ]]; then
	runc_bin=$(command -v runc)
	step "control: BERTH_BIN=$runc_bin cargo test -p berth-e2e -p berth-integration"
	BERTH_BIN=$runc_bin cargo test -p berth-e2e -p berth-integration -- "${threads[@]}" "${bin_args[@]}"
	step "control: PIER_TEST_RUNTIME=$runc_bin cargo test -p pier --test containers --test compose"
	PIER_TEST_RUNTIME=$runc_bin cargo test -p pier --test containers --test compose -- "${threads[@]}" "${bin_args[@]}"
fi
# What users install is the release build, static musl with its own
# allocator: the end-to-end suite once more against it.
if [[ ${#cargo_args[@]} -eq 0 && ${RELEASE:-1} != 0 ]]; then
	step "release: hack/build-berth.sh"
	release_bin=$(hack/build-berth.sh)
	step "release: BERTH_BIN=$release_bin cargo test -p berth-e2e"
	BERTH_BIN=$release_bin cargo test -p berth-e2e -- "${threads[@]}" "${bin_args[@]}"
fi
step "all tests passed"
