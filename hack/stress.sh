#!/usr/bin/env bash
# Full-size stress of the runtime (issue 10), under the host-wide leak check:
# 1,000 create/start/kill/delete cycles two at a time, 200 `exec`s into one
# container all at once, and 200 rounds of commands racing on one container
# id. These are the stress tests of tests/tests/reliability.rs, which CI runs
# at smaller sizes; this prints their throughput and the leak verdict.
#
# Usage: sudo hack/stress.sh
#
# Environment (defaults are the full sizes):
#   BERTH_STRESS_CYCLES        create/start/kill/delete cycles (1000)
#   BERTH_STRESS_PARALLEL      cycles at a time (2)
#   BERTH_STRESS_EXECS         execs into one container (200)
#   BERTH_STRESS_EXEC_THREADS  execs at a time (200)
#   BERTH_STRESS_RACE_ROUNDS   rounds of 4 threads x 6 racing commands (200)
#   BERTH_BIN                  runtime under test (target/debug/berth; runc works)
set -euo pipefail

case ${1:-} in -h | --help) sed -n '8,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
if [[ $(id -u) -ne 0 ]]; then
	echo "stress: must run as root: containers need namespaces, cgroups and mounts" >&2
	exit 1
fi
[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH

export BERTH_STRESS_CYCLES=${BERTH_STRESS_CYCLES:-1000}
export BERTH_STRESS_PARALLEL=${BERTH_STRESS_PARALLEL:-2}
export BERTH_STRESS_EXECS=${BERTH_STRESS_EXECS:-200}
export BERTH_STRESS_EXEC_THREADS=${BERTH_STRESS_EXEC_THREADS:-200}
export BERTH_STRESS_RACE_ROUNDS=${BERTH_STRESS_RACE_ROUNDS:-200}
export BERTH_BIN=${BERTH_BIN:-$repo/target/debug/berth}
export BERTH_ROOTFS_SCRIPT=${BERTH_ROOTFS_SCRIPT:-$repo/hack/mkrootfs.sh}

# Not named berth*: the leak check would count it.
work=$(mktemp -d /tmp/stress-report.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BERTH_STRESS_REPORT=$work/figures

cargo build -q -p berth
cargo test -q -p berth-e2e --test reliability --no-run
hack/leakcheck.sh snapshot "$work/before"

# One test at a time, so that each figure is measured alone. The `stress`
# filter leaves out the file's whole-file wrapper: the tests run directly.
status=0
cargo test -q -p berth-e2e --test reliability -- --test-threads=1 stress || status=$?

verdict=0
hack/leakcheck.sh diff "$work/before" --settle 10 || verdict=$?

printf '\n==> figures (%s)\n' "$BERTH_BIN"
cat "$BERTH_STRESS_REPORT" 2>/dev/null || echo "(none: the tests failed early)"
if [[ $status -ne 0 ]]; then
	echo "stress: FAILED: the stress tests failed" >&2
	exit 1
fi
if [[ $verdict -ne 0 ]]; then
	echo "stress: FAILED: things were left on the host" >&2
	exit 1
fi
echo "stress: passed; nothing left on the host"
