#!/usr/bin/env bash
# The first thing to run: build berth, make a busybox bundle and run a
# container that shows its hostname, its user and its process list.
#
# Usage: sudo hack/demo.sh
#
# Environment:
#   BERTH  runtime to demo (default: build it with hack/build-berth.sh);
#          BERTH=runc shows the reference behaviour
set -euo pipefail

hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root: containers need namespaces and cgroups (sudo $0)" >&2
	exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
[[ -t 1 ]] || step() { printf '\n==> %s\n' "$*"; }

"$hack/install-deps.sh"

if [[ -z ${BERTH:-} ]]; then
	step "building berth: hack/build-berth.sh (static musl when it can, else glibc)"
	BERTH=$("$hack/build-berth.sh")
fi
if ! berth=$(command -v "$BERTH"); then
	echo "demo: runtime '$BERTH' not found" >&2
	exit 1
fi
export BERTH=$berth

tmp=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=demo-$$
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	"$berth" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "$(basename "$berth") --version"
"$berth" --version

step "making a bundle: hack/mkbundle.sh $tmp/bundle"
# shellcheck disable=SC2016 # expanded by the container's shell
"$hack/mkbundle.sh" "$tmp/bundle" -- sh -c \
	'echo "hostname: $(hostname)"; echo "id: $(id)"; ps; echo "sh is pid $$"'
echo "rootfs: busybox, $(find "$tmp/bundle/rootfs/bin" -type l | wc -l) applets"
echo "process: $(jq -c .process.args "$tmp/bundle/config.json")"

step "$(basename "$berth") --root $tmp/state run --bundle $tmp/bundle $id"
rc=0
"$berth" --root "$tmp/state" run --bundle "$tmp/bundle" "$id" || rc=$?

step "container exited with status $rc; cleaning up"
exit "$rc"
