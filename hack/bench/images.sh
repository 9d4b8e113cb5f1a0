#!/usr/bin/env bash
# The image benchmark: pull throughput of `pier pull` against `skopeo copy`
# from the same local registry, and unpack throughput of pier's unpacker
# against `umoci unpack`, on the same generated image. Prints figures; no
# thresholds.
#
# Usage: sudo hack/bench/images.sh
#
# Environment:
#   RUNS      timed runs of each contender (default 5), interleaved: each
#             round runs every contender once, in an order rotated by one
#             each round
#   SIZE_MB   random data in the image (default 100), spread over LAYERS
#             layers (default 4) on top of a busybox layer
#   PIER      pier binary; UNPACK: the unpack example
#             (crates/pier-image/examples/unpack.rs). When unset, both are
#             built with `cargo build --release` and copied first.
#
# What is timed: a pull into an empty store (pier) or an empty OCI layout
# (skopeo copy docker://... oci:...), both over plain HTTP to a
# docker-registry on 127.0.0.1, both verifying digests; an unpack of the
# pulled image into an empty directory (pier: every layer applied with
# openat2-confined paths and checked against its DiffID; umoci: the same
# plus config.json and an mtree manifest of the rootfs, which it hashes).
# Throughput is the image's compressed size (pull) or its unpacked size
# (unpack) over the median time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hack=$(dirname "$here")
repo=$(dirname "$hack")

runs=${RUNS:-5}
size_mb=${SIZE_MB:-100}
layers=${LAYERS:-4}

die() { echo "bench/images: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (umoci unpack keeps owners)"
"$hack/install-deps.sh"
for t in docker-registry skopeo umoci jq; do
	command -v "$t" >/dev/null || die "$t is missing"
done

work=$(mktemp -d /var/tmp/pier-bench.XXXXXX)
registry_pid=
cleanup() {
	if [[ -n $registry_pid ]]; then
		kill "$registry_pid" 2>/dev/null || true
		wait "$registry_pid" 2>/dev/null || true
	fi
	rm -rf -- "$work"
}
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; cleanup; exit "$rc"' EXIT
trap 'exit 130' INT TERM

if [[ -z ${PIER:-} || -z ${UNPACK:-} ]]; then
	echo "bench/images: building pier and the unpack example (release)" >&2
	(cd "$repo" && cargo build --release -q -p pier && cargo build --release -q -p pier-image --example unpack)
	PIER=${PIER:-$repo/target/release/pier}
	UNPACK=${UNPACK:-$repo/target/release/examples/unpack}
fi
# Copies, so a rebuild during the run cannot change what is timed.
cp "$PIER" "$work/pier"
cp "$UNPACK" "$work/unpack"

echo "bench/images: building a ${size_mb} MB image in $layers layers + busybox" >&2
"$hack/mkrootfs.sh" "$work/busybox"
umoci init --layout "$work/src"
umoci new --image "$work/src:bench"
# umoci warns on stderr about every layer without history (the image needs
# none): its stderr is shown only when it fails.
insert() {
	umoci insert --image "$work/src:bench" --no-history "$1" / 2>"$work/umoci.err" ||
		{ cat "$work/umoci.err" >&2; die "umoci insert $1 failed"; }
}
insert "$work/busybox"
per_layer=$((size_mb * 1024 * 1024 / layers))
for ((l = 0; l < layers; l++)); do
	d=$work/layer$l
	mkdir -p "$d/data$l/small"
	# Big random files (incompressible) and many small text files
	# (compressible, metadata-heavy).
	for ((f = 0; f < 16; f++)); do
		head -c $((per_layer / 16)) /dev/urandom >"$d/data$l/blob$f"
	done
	for ((f = 0; f < 500; f++)); do
		seq "$f" $((f + 200)) >"$d/data$l/small/f$f"
	done
	insert "$d"
	rm -rf -- "$d"
done
umoci config --image "$work/src:bench" --os linux --config.cmd sh --no-history

port=
for p in $(shuf -i 20000-40000 -n 20); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[[ -n $port ]] || die "no free port"
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
ref=127.0.0.1:$port/bench:latest
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$work/src:bench" "docker://$ref"
compressed=$(skopeo inspect --raw --tls-verify=false "docker://$ref" | jq '[.layers[].size] | add')

# One command, timed in ns; output discarded.
timed() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; die "failed: $*"; }
	end=$(date +%s%N)
	echo $((end - start))
}

pull_pier() { rm -rf -- "$work/p"; timed "$work/pier" --root "$work/p" pull -q "$ref"; }
pull_skopeo() {
	rm -rf -- "$work/s"
	timed skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$ref" "oci:$work/s:bench"
}
unpack_pier() { rm -rf -- "$work/up"; timed "$work/unpack" "$work/p" "$ref" "$work/up"; }
unpack_umoci() { rm -rf -- "$work/uu"; timed umoci unpack --image "$work/s:bench" "$work/uu"; }

# Warm-up round, and the stores the unpackers read.
for c in pull_pier pull_skopeo unpack_pier unpack_umoci; do $c >/dev/null; done
unpacked=$(du -sb --apparent-size "$work/up" | cut -f1)

contenders=(pull_pier pull_skopeo unpack_pier unpack_umoci)
declare -A times
for ((i = 0; i < runs; i++)); do
	n=${#contenders[@]}
	for ((k = 0; k < n; k++)); do
		c=${contenders[$(((i + k) % n))]}
		# A pull must precede the unpack that reads its store.
		case $c in
		unpack_pier) [[ -d $work/p ]] || pull_pier >/dev/null ;;
		unpack_umoci) [[ -d $work/s ]] || pull_skopeo >/dev/null ;;
		esac
		times[$c]+="$($c) "
	done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {printf "%.0f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minmax() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.3f %.3f\n", min/1e9, max/1e9}'; }

awk -v l="$((layers + 1))" -v c="$compressed" -v u="$unpacked" -v r="$runs" 'BEGIN {
	printf "image: %d layers, %.1f MB compressed, %.1f MB unpacked; %d interleaved runs each\n\n", l, c / 1e6, u / 1e6, r
	printf "%-14s %10s %10s %10s %10s\n", "benchmark", "median s", "min s", "max s", "MB/s"
}'
for c in "${contenders[@]}"; do
	m=$(echo "${times[$c]}" | median)
	bytes=$compressed
	[[ $c == unpack_* ]] && bytes=$unpacked
	read -r lo hi < <(echo "${times[$c]}" | minmax)
	awk -v c="$c" -v m="$m" -v lo="$lo" -v hi="$hi" -v b="$bytes" \
		'BEGIN { printf "%-14s %10.3f %10s %10s %10.1f\n", c, m / 1e9, lo, hi, b / 1e6 / (m / 1e9) }'
done
