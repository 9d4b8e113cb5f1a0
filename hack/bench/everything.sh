#!/usr/bin/env bash
# Every benchmark in one command: the runtime suite (all.sh: berth against
# runc, crun and youki), pier end to end against podman (pier.sh), image
# pull and unpack against skopeo and umoci (images.sh), and pier compose
# against docker-compose with dockerd (compose.sh). Each part prints its
# own tables on stdout as it finishes; a part that fails is reported and
# the others still run. About 10 minutes on the 2-core development VM.
#
# Usage: sudo hack/bench/everything.sh
#
# Environment (each part keeps its own defaults otherwise; a plain RUNS is
# not passed on, since the parts count rounds so differently):
#   RUNTIME_RUNS, PIER_RUNS, IMAGES_RUNS, COMPOSE_RUNS   RUNS of each part
#   YOUKI            youki binary for the runtime suite (see README.md)
#   BENCH_OUT        a directory: the parts that keep raw records (runtime,
#                    pier, compose) do so in a subdirectory named after it
#   PARTS            which parts, in order (default "runtime pier images compose")
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a parts <<<"${PARTS:-runtime pier images compose}"
declare -A script=([runtime]=all.sh [pier]=pier.sh [images]=images.sh [compose]=compose.sh)
declare -A runs=([runtime]=${RUNTIME_RUNS:-} [pier]=${PIER_RUNS:-} [images]=${IMAGES_RUNS:-} [compose]=${COMPOSE_RUNS:-})

[[ $(id -u) -eq 0 ]] || { echo "everything.sh: run as root" >&2; exit 1; }
for p in "${parts[@]}"; do
	[[ -n ${script[$p]:-} ]] || { echo "everything.sh: unknown part '$p' (known: runtime pier images compose)" >&2; exit 2; }
done

failed=()
started=$(date +%s)
for p in "${parts[@]}"; do
	printf '\n######## %s: hack/bench/%s ########\n\n' "$p" "${script[$p]}"
	env=(-u RUNS)
	[[ -n ${runs[$p]} ]] && env+=("RUNS=${runs[$p]}")
	[[ -n ${BENCH_OUT:-} ]] && env+=("BENCH_OUT=$BENCH_OUT/$p")
	if ! env "${env[@]}" "$here/${script[$p]}"; then
		echo "everything.sh: part $p failed" >&2
		failed+=("$p")
	fi
done
printf '\neverything.sh: %s in %d s\n' "${parts[*]}" $(($(date +%s) - started))
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "everything.sh: failed parts: ${failed[*]}" >&2
	exit 1
fi
