#!/usr/bin/env bash
# `pier compose` against docker-compose 1.29 on the same 5-service project:
# the wall time of `up -d` (from nothing: the project network is created and
# every container started) and of `down` (containers and network removed),
# each tool driving berth and runc, interleaved so machine drift hits all
# alike. Prints two tables: median, p10, p90, ratio to pier+berth.
#
# Usage: sudo hack/bench/compose.sh
#   RUNS=20          timed rounds (default 10), after WARMUP untimed ones
#                    (default 1)
#   CONTENDERS="pier-berth pier-runc docker-runc docker-berth" (the default)
#   PIER, BERTH      binaries to time; when unset, a release build of the
#                    tree (copied first either way)
#   BENCH_OUT=DIR    keep the raw records, the compose files and the tables
#
# The project: five services on the busybox image of hack/mkimage.sh, each
# running `sleep 3600`, on the project's default network (a bridge with an
# explicit subnet, a different one per contender), with a dependency chain:
# a; b and c depend on a; d on b; e stands alone. Both tools read the same
# file; docker-berth's adds `runtime: berth` to each service.
#
# docker-compose talks to a private dockerd (on a private containerd) started
# here as DESIGN.md and integration/src/dockerd.rs do: own data root, exec
# root, sockets, no iptables, no docker0, containers under a private cgroup
# parent, berth added with --add-runtime. pier uses a private --root.
#
# `down` runs with `-t 0` for both: `sleep` as pid 1 ignores SIGTERM, so the
# default 10 s grace period would be all that `down` measures.
#
# Each round runs every contender once, in an order rotated by one per round:
# `up -d` (timed), a check that 5 containers run, `down` (timed), a check that
# no container and no project network is left. timer.c times each command
# from spawn to wait4; the checks are not timed. On exit (^C included) the
# projects, dockerd, containerd, their shims, mounts, cgroups and bridges
# are removed; the last line on stderr says whether anything was left.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
read -r -a contenders <<<"${CONTENDERS:-pier-berth pier-runc docker-runc docker-berth}"

die() { echo "compose.sh: $*" >&2; exit 1; }
log() { echo "compose.sh: $*" >&2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$WARMUP'"
[[ ${#contenders[@]} -gt 0 ]] || die "CONTENDERS is empty"
for who in "${contenders[@]}"; do
	case $who in
	pier-berth | pier-runc | docker-runc | docker-berth) ;;
	*) die "unknown contender $who (known: pier-berth pier-runc docker-runc docker-berth)" ;;
	esac
done
[[ $(id -u) -eq 0 ]] || die "run as root"
uses() { [[ " ${contenders[*]} " == *" $1"* ]]; }

for t in gcc jq skopeo runc dockerd containerd docker-compose; do
	command -v "$t" >/dev/null ||
		"$repo/hack/install-deps.sh" gcc libc6-dev jq skopeo runc docker.io containerd docker-compose
done
# The docker.io client matches the daemon (a newer `docker` may be earlier on PATH).
docker_bin=/usr/bin/docker
[[ -x $docker_bin ]] || docker_bin=$(command -v docker)

# One /24 per contender, in a /16 nothing on this host may route.
net16=10.213
if ip -4 route show | grep -q "^${net16//./\\.}\." || ip -4 -o addr show | grep -q " ${net16//./\\.}\."; then
	die "$net16.0.0/16 is in use on this host; the project subnets would clash"
fi

tmp=$(mktemp -d /tmp/compose-bench.XXXXXX)
name=$(basename "$tmp")
pier_root=$tmp/pier
containerd_pid='' dockerd_pid=''
export DOCKER_HOST=unix://$tmp/docker.sock DOCKER_CONFIG=$tmp/docker-client

# --- cleanup ---------------------------------------------------------------------
# stop_pid PID SECONDS: SIGTERM, then SIGKILL when it is still there.
stop_pid() {
	local n
	kill -TERM "$1" 2>/dev/null || return 0
	for ((n = 0; n < $2 * 10; n++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}
# pier_networks: the names of pier's networks but the implicit default one.
pier_networks() {
	"$tmp/bin/pier" --root "$pier_root" network ls --format json </dev/null |
		jq -r 'select(.Name != "bridge") | .Name'
}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$? left=() bridges=() id who pid m cg
	trap '' INT TERM
	# pier: the projects, any container a failed round left, the networks.
	if [[ -x $tmp/bin/pier && -d $pier_root ]]; then
		for who in "${contenders[@]}"; do
			[[ $who == pier-* && -f $tmp/$who.yaml ]] || continue
			"$tmp/bin/pier" --root "$pier_root" compose -p "bench${who//-/}" -f "$tmp/$who.yaml" \
				down -t 0 </dev/null >/dev/null 2>&1 || true
		done
		while read -r id; do
			[[ -n $id ]] || continue
			left+=("pier container $id")
			"$tmp/bin/pier" --root "$pier_root" rm -f "$id" >/dev/null 2>&1 || true
		done < <("$tmp/bin/pier" --root "$pier_root" ps -aq --no-trunc 2>/dev/null </dev/null || true)
		while read -r id; do
			[[ -n $id ]] || continue
			left+=("pier network $id")
			bridges+=("$("$tmp/bin/pier" --root "$pier_root" network inspect "$id" 2>/dev/null |
				jq -r '.[0].bridge // .[0].Bridge // empty' 2>/dev/null || true)")
			"$tmp/bin/pier" --root "$pier_root" network rm "$id" >/dev/null 2>&1 || true
		done < <(pier_networks 2>/dev/null || true)
	fi
	# docker: containers and networks, then dockerd, then containerd.
	if [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
		while read -r id; do
			[[ -n $id ]] || continue
			left+=("docker container $id")
			timeout 60 "$docker_bin" rm -f "$id" >/dev/null 2>&1 || true
		done < <(timeout 20 "$docker_bin" ps -aq 2>/dev/null || true)
		while read -r id; do
			[[ -n $id ]] || continue
			left+=("docker network $id")
			bridges+=("br-${id:0:12}")
			timeout 20 "$docker_bin" network rm "$id" >/dev/null 2>&1 || true
		done < <(timeout 20 "$docker_bin" network ls -q --no-trunc --filter type=custom 2>/dev/null || true)
	fi
	[[ -n $dockerd_pid ]] && stop_pid "$dockerd_pid" 20
	[[ -n $containerd_pid ]] && stop_pid "$containerd_pid" 10
	# Shims outlive containerd; their command lines name our socket.
	for pid in $(pgrep -f -- "-address $tmp/containerd.sock" || true); do
		left+=("shim $pid")
		kill -KILL "$pid" 2>/dev/null || true
	done
	for m in "${bridges[@]}"; do
		[[ -n $m ]] || continue
		ip link del "$m" 2>/dev/null || true
	done
	# Mounts under the temp dir (overlays, netns binds), deepest first.
	while read -r m; do
		[[ -n $m ]] || continue
		left+=("mount $m")
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r || true)
	# dockerd's containers live under the cgroup parent /$name.
	while read -r cg; do
		[[ -n $cg ]] || continue
		[[ $(basename "$cg") == "$name" ]] || left+=("cgroup $cg")
		rmdir -- "$cg" 2>/dev/null || true
	done < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d -name "$name" -exec find {} -depth -type d \; 2>/dev/null)
	# pier's nftables rules live in one host-wide table (`ip pier`); network
	# rm drops a network's rules, so none may name our subnets now.
	if nft list table ip pier 2>/dev/null | grep -q " ${net16//./\\.}\\."; then
		left+=("nftables rules for $net16.0.0/16 in table ip pier (not removed: nft -a list table ip pier)")
	fi
	if [[ -n ${BENCH_OUT:-} && -d $tmp ]]; then
		mkdir -p -- "$BENCH_OUT"
		cp -f -- "$tmp"/*.tsv "$tmp"/*.yaml "$tmp"/*.txt "$BENCH_OUT"/ 2>/dev/null || true
	fi
	rm -rf -- "$tmp"
	if [[ ${#left[@]} -gt 0 ]]; then
		log "cleanup: removed leftovers: ${left[*]}"
	else
		log "cleanup: no container, network, shim, mount or cgroup left"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# --- binaries and the image ---------------------------------------------------------
mkdir -p "$tmp/bin"
if [[ -z ${PIER:-} ]]; then
	log "building pier (release)..."
	(cd "$repo" && cargo build --release -q -p pier)
fi
[[ -n ${BERTH:-} ]] || BERTH=$("$repo/hack/build-berth.sh")
cp "${PIER:-$repo/target/release/pier}" "$tmp/bin/pier"
cp "$BERTH" "$tmp/bin/berth"
gcc -O2 -Wall -Wextra -Werror -o "$tmp/bin/timer" "$here/timer.c"

log "building the image (hack/mkimage.sh)..."
img=$repo/target/pier-test-image
"$repo/hack/mkimage.sh" "$img" >/dev/null
if uses pier; then
	"$tmp/bin/pier" --root "$pier_root" images -q >/dev/null
	skopeo copy -q "oci:$img/oci:latest" "oci:$pier_root:docker.io/berth-test/busybox:latest"
fi

# --- dockerd on a private containerd -------------------------------------------------
# wait_for WHAT PID LOG CMD...: until CMD succeeds; dies with LOG when PID exits.
wait_for() {
	local what=$1 pid=$2 logf=$3 n
	shift 3
	for ((n = 0; n < 600; n++)); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	die "$what did not come up: $(tail -n 20 "$logf")"
}
if uses docker; then
	log "starting containerd and dockerd..."
	mkdir -p "$DOCKER_CONFIG"
	cat >"$tmp/containerd.toml" <<-EOF
		version = 2
		root = "$tmp/containerd-root"
		state = "$tmp/containerd-state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
		  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$tmp/containerd.sock"
		[ttrpc]
		  address = "$tmp/containerd.sock.ttrpc"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$tmp/containerd-opt"
	EOF
	# setsid: a ^C reaches this script only, which then stops both daemons in order.
	setsid containerd --config "$tmp/containerd.toml" </dev/null >"$tmp/containerd.log" 2>&1 &
	containerd_pid=$!
	wait_for containerd "$containerd_pid" "$tmp/containerd.log" \
		ctr -a "$tmp/containerd.sock" version
	echo '{}' >"$tmp/daemon.json"
	setsid dockerd --config-file "$tmp/daemon.json" --data-root "$tmp/docker-data" \
		--exec-root "$tmp/docker-exec" -H "$DOCKER_HOST" --pidfile "$tmp/docker.pid" \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--bridge=none --userland-proxy=false --storage-driver=overlay2 \
		--containerd "$tmp/containerd.sock" --cgroup-parent "/$name" \
		--add-runtime "berth=$tmp/bin/berth" \
		</dev/null >"$tmp/dockerd.log" 2>&1 &
	dockerd_pid=$!
	wait_for dockerd "$dockerd_pid" "$tmp/dockerd.log" "$docker_bin" version
	"$docker_bin" load -q -i "$img/busybox.tar" >/dev/null
fi

# --- the project ------------------------------------------------------------------------
# compose_file FILE SUBNET [RUNTIME]
compose_file() {
	local svc runtime=''
	[[ -n ${3:-} ]] && runtime="    runtime: $3"$'\n'
	{
		echo "services:"
		for svc in a b c d e; do
			echo "  $svc:"
			echo "    image: berth-test/busybox"
			echo '    command: ["sleep", "3600"]'
			printf '%s' "$runtime"
			case $svc in
			b | c) echo "    depends_on: [a]" ;;
			d) echo "    depends_on: [b]" ;;
			esac
		done
		echo "networks:"
		echo "  default:"
		echo "    ipam:"
		echo "      config:"
		echo "        - subnet: $2"
	} >"$1"
}
i=0
for who in "${contenders[@]}"; do
	i=$((i + 1))
	case $who in
	docker-berth) compose_file "$tmp/$who.yaml" "$net16.$i.0/24" berth ;;
	*) compose_file "$tmp/$who.yaml" "$net16.$i.0/24" ;;
	esac
done

# set_cmd WHO up|down: CMD = the command; PROJECT = its project name.
set_cmd() {
	local who=$1 verb=(up -d)
	[[ $2 == down ]] && verb=(down -t 0)
	PROJECT=bench${who//-/}
	case $who in
	pier-berth | pier-runc)
		local rt=$tmp/bin/berth
		[[ $who == pier-runc ]] && rt=$(command -v runc)
		CMD=("$tmp/bin/pier" --root "$pier_root" compose --runtime "$rt"
			-p "$PROJECT" -f "$tmp/$who.yaml" "${verb[@]}")
		;;
	docker-runc | docker-berth)
		CMD=(docker-compose -p "$PROJECT" -f "$tmp/$who.yaml" "${verb[@]}")
		;;
	esac
}
# count WHO running|all|networks: the project's containers or networks.
count() {
	local who=$1
	case $who:$2 in
	pier-*:running) "$tmp/bin/pier" --root "$pier_root" ps -q ;;
	pier-*:all) "$tmp/bin/pier" --root "$pier_root" ps -aq ;;
	pier-*:networks) pier_networks ;;
	docker-*:running) "$docker_bin" ps -q ;;
	docker-*:all) "$docker_bin" ps -aq ;;
	docker-*:networks) "$docker_bin" network ls -q --filter type=custom ;;
	esac </dev/null | grep -c . || true
}
# timed BENCH WHO ITER: runs CMD under timer; records only timed rounds.
timed() {
	local out=$records
	(($3 >= 0)) || out=/dev/null
	"$tmp/bin/timer" -o "$out" -l "$1"$'\t'"$2"$'\t'"$3" -- "${CMD[@]}" \
		</dev/null >"$tmp/out" 2>&1 ||
		die "$2: $1 failed in round $3: ${CMD[*]}: $(cat "$tmp/out")"
}
# rotate N ITEMS...: ORDER = ITEMS rotated left by N (mod their count).
rotate() {
	local n=$1
	shift
	local k=$(((n % $# + $#) % $#))
	ORDER=("${@:k+1}" "${@:1:k}")
}

records=$tmp/records.tsv
: >"$records"
log "timing ${contenders[*]}: $WARMUP untimed and $RUNS timed rounds..."
for ((i = -WARMUP; i < RUNS; i++)); do
	rotate "$i" "${contenders[@]}"
	for who in "${ORDER[@]}"; do
		set_cmd "$who" up
		timed up "$who" "$i"
		n=$(count "$who" running)
		[[ $n -eq 5 ]] || die "$who: $n containers running after up, not 5: $(cat "$tmp/out")"
		if [[ $who == docker-* ]]; then
			# dockerd falls back to its default runtime silently: check.
			rts=$("$docker_bin" ps -q | xargs "$docker_bin" inspect -f '{{.HostConfig.Runtime}}' | sort -u)
			[[ $rts == "${who#docker-}" ]] || die "$who: containers run with runtime '$rts'"
		fi
		set_cmd "$who" down
		timed down "$who" "$i"
		n=$(count "$who" all)
		[[ $n -eq 0 ]] || die "$who: $n containers left after down: $(cat "$tmp/out")"
		n=$(count "$who" networks)
		[[ $n -eq 0 ]] || die "$who: $n networks left after down: $(cat "$tmp/out")"
	done
done

# --- tables ------------------------------------------------------------------------------
versions="runc $(runc --version | awk 'NR == 1 {print $3}')"
if uses docker; then
	versions+=", docker-compose $(docker-compose version --short 2>/dev/null || echo '?')"
	versions+=", dockerd $("$docker_bin" version -f '{{.Server.Version}}' 2>/dev/null || echo '?')"
fi
base=${contenders[0]}
uses pier-berth && base=pier-berth
rows=$(for who in "${contenders[@]}"; do printf '{"label":"%s","terms":[{"who":"%s","k":1}]},' "$who" "$who"; done)
for bench in up down; do
	case $bench in
	up) title="compose up -d: 5 services + a network from nothing ($RUNS rounds, interleaved)" ;;
	down) title="compose down -t 0: stop and remove 5 containers + the network ($RUNS rounds, interleaved)" ;;
	esac
	spec="{\"bench\":\"$bench\",\"title\":\"$title\",\"unit\":\"ms\",\"field\":\"ns\",\"base\":\"$base\",\"rows\":[${rows%,}]}"
	jq -R -s -r --argjson spec "$spec" -f "$here/table.jq" "$records"
done | tee "$tmp/tables.txt"
echo "($versions)" | tee -a "$tmp/tables.txt"
