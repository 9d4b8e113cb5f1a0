#!/usr/bin/env bash
# Host-wide leak check: record the host before a run, compare after it.
#
# Usage: hack/leakcheck.sh snapshot FILE
#        hack/leakcheck.sh diff FILE [--settle SECONDS]
#        hack/leakcheck.sh show
#
# `diff` exits 1 and lists what is new since FILE: mounts, cgroups (every
# hierarchy's top level and berth/ subtree, the whole unified tree), network
# devices, /run/netns entries, processes, entries of the state roots, berth
# and pier temp files, fd counts of long-lived berth/pier processes, and
# nft/iptables rules. It waits up to --settle seconds (default 5) for
# exiting processes and cgroups being removed to go.
#
# Environment (see tests/src/host.rs):
#   BERTH_LEAKCHECK_ROOTS         state roots, :-separated (/run/berth:/run/pier)
#   BERTH_LEAKCHECK_TMP_PREFIXES  temp file prefixes, ,-separated (berth,pier)
#   BERTH_LEAKCHECK_FD_PROCS      long-lived process names, ,-separated (berth,pier)
#   BERTH_LEAKCHECK_IGNORE        substrings of items to ignore, ,-separated
#   BERTH_LEAKCHECK_BIN           a built checker to run instead of building one
#
# The checker is the `leakcheck` binary of the e2e crate, the same code the
# tests use (berth_e2e::host); this script builds it when cargo is there.
set -euo pipefail

usage() { sed -n '4,6s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
case $1 in -h | --help) usage ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH
bin=${BERTH_LEAKCHECK_BIN:-$repo/target/debug/leakcheck}
if [[ -z ${BERTH_LEAKCHECK_BIN:-} ]] && command -v cargo >/dev/null 2>&1; then
	# Quiet and quick when up to date; stdout stays the checker's.
	(cd "$repo" && cargo build -q -p berth-e2e --bin leakcheck >&2)
fi
[[ -x $bin ]] || { echo "leakcheck: $bin is not built (cargo build -p berth-e2e --bin leakcheck)" >&2; exit 2; }
exec "$bin" "$@"
