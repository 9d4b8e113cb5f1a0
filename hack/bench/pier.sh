#!/usr/bin/env bash
# pier end to end against podman on the same busybox image: the wall time
# of `run --rm IMAGE true` (create the container, start it, wait, remove
# it), each tool with berth and with runc, interleaved so machine drift
# hits all alike. Prints a table: median, p10, p90, ratio to pier+berth.
#
# Usage: sudo hack/bench/pier.sh
#   RUNS=50          timed iterations of each contender (default 30)
#   CONTENDERS="pier-berth pier-runc podman-runc podman-berth"
#   BENCH_OUT=DIR    keep the raw records
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
CONTENDERS=${CONTENDERS:-pier-berth pier-runc podman-runc podman-berth}

die() { echo "pier.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root"
for t in gcc jq skopeo podman runc; do
	command -v "$t" >/dev/null || "$repo/hack/install-deps.sh" gcc jq skopeo podman runc
done

tmp=$(mktemp -d /tmp/pier-bench.XXXXXX)
cleanup() {
	# Containers a failed iteration left, then the stores.
	"$tmp/bin/pier" --root "$tmp/pier" ps -aq --no-trunc 2>/dev/null |
		xargs -r "$tmp/bin/pier" --root "$tmp/pier" rm -f >/dev/null 2>&1 || true
	podman "${podman_flags[@]}" rm -af >/dev/null 2>&1 || true
	podman "${podman_flags[@]}" system reset -f >/dev/null 2>&1 || true
	umount -R "$tmp/podman" 2>/dev/null || true
	rm -rf -- "$tmp"
}
podman_flags=(--root "$tmp/podman" --runroot "$tmp/podman-run" --cgroup-manager=cgroupfs
	--events-backend=file --storage-driver=overlay)
trap cleanup EXIT

echo "building release binaries..." >&2
(cd "$repo" && cargo build --release -q -p pier)
mkdir -p "$tmp/bin"
cp "$repo/target/release/pier" "$tmp/bin/"
cp "$("$repo/hack/build-berth.sh")" "$tmp/bin/berth"
gcc -O2 -Wall -Wextra -Werror -o "$tmp/bin/timer" "$here/timer.c"

echo "building the image (hack/mkimage.sh)..." >&2
img=$repo/target/pier-test-image
"$repo/hack/mkimage.sh" "$img" >/dev/null
"$tmp/bin/pier" --root "$tmp/pier" images -q >/dev/null
skopeo copy -q "oci:$img/oci:latest" "oci:$tmp/pier:docker.io/berth-test/busybox:latest"
podman "${podman_flags[@]}" load -q -i "$img/busybox.tar" >/dev/null

pier_cmd() {
	CMD=("$tmp/bin/pier" --root "$tmp/pier" run --rm --network none --runtime "$1"
		berth-test/busybox true)
}
podman_cmd() {
	CMD=(podman "${podman_flags[@]}" --runtime "$1" run --rm --net=none
		--ulimit nofile=20000:20000 --ulimit nproc=1000:1000
		docker.io/berth-test/busybox:latest true)
}
set_cmd() {
	case $1 in
	pier-berth) pier_cmd "$tmp/bin/berth" ;;
	pier-runc) pier_cmd "$(command -v runc)" ;;
	podman-runc) podman_cmd "$(command -v runc)" ;;
	podman-berth) podman_cmd "$tmp/bin/berth" ;;
	*) die "unknown contender $1" ;;
	esac
}

records=$tmp/records.tsv
: >"$records"
for ((i = -WARMUP; i < RUNS; i++)); do
	for who in $CONTENDERS; do
		set_cmd "$who"
		out=$records
		((i < 0)) && out=/dev/null
		"$tmp/bin/timer" -o "$out" -l "run"$'\t'"$who"$'\t'"$i" -- "${CMD[@]}" \
			</dev/null >/dev/null 2>"$tmp/err" ||
			die "$who failed: $(cat "$tmp/err")"
	done
done

rows=$(for who in $CONTENDERS; do printf '{"label":"%s","terms":[{"who":"%s","k":1}]},' "$who" "$who"; done)
spec="{\"bench\":\"run\",\"title\":\"run --rm busybox true, end to end ($RUNS runs, interleaved)\",\"unit\":\"ms\",\"field\":\"ns\",\"base\":\"pier-berth\",\"rows\":[${rows%,}]}"
jq -R -s -r --argjson spec "$spec" -f "$here/table.jq" "$records"
if [[ -n ${BENCH_OUT:-} ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$records" "$BENCH_OUT/pier-records.tsv"
fi
