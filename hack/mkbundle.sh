#!/usr/bin/env bash
# Make an OCI bundle: DIR/rootfs (busybox, see mkrootfs.sh) and DIR/config.json
# from the runtime's runc-compatible `spec` command, with process.terminal set
# to false and process.args set to ARGS (default: sh).
#
# Usage: hack/mkbundle.sh DIR [-- ARGS...]
#
# Environment:
#   BERTH  runtime whose `spec` writes the template: a path or a command name
#          (default: target/debug/berth in this repository; BERTH=runc works)
#
# Re-running it rewrites config.json and keeps the rootfs.
set -euo pipefail

usage() { echo "usage: $0 DIR [-- ARGS...]" >&2; exit 2; }

hack=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$hack")

[[ $# -ge 1 && -n $1 && $1 != -* ]] || usage
dir=$1
shift
if [[ $# -gt 0 ]]; then
	[[ $1 == -- ]] || usage
	shift
fi
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(sh)

berth=${BERTH:-$repo/target/debug/berth}
if ! command -v "$berth" >/dev/null 2>&1; then
	echo "mkbundle: runtime '$berth' not found (build it with 'cargo build -p berth', or set BERTH=runc)" >&2
	exit 1
fi
command -v jq >/dev/null 2>&1 || "$hack/install-deps.sh"

mkdir -p -- "$dir"
dir=$(cd "$dir" && pwd)
"$hack/mkrootfs.sh" "$dir/rootfs"

# `spec` refuses to overwrite config.json, so let it write into a scratch
# bundle and install the edited result atomically.
scratch=$(mktemp -d "$dir/.spec.XXXXXX")
trap 'rm -rf -- "$scratch"' EXIT
if ! "$berth" spec --bundle "$scratch" >"$scratch/spec.log" 2>&1; then
	echo "mkbundle: '$berth spec --bundle $scratch' failed:" >&2
	cat "$scratch/spec.log" >&2
	exit 1
fi
if [[ ! -s $scratch/config.json ]]; then
	echo "mkbundle: '$berth spec' wrote no config.json" >&2
	exit 1
fi

args_json=$(jq -n '$ARGS.positional' --args -- "${args[@]}")
jq --argjson args "$args_json" \
	'.process.terminal = false | .process.args = $args' \
	"$scratch/config.json" >"$scratch/config.json.new"
mv -f -- "$scratch/config.json.new" "$dir/config.json"
