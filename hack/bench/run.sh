#!/usr/bin/env bash
# Benchmark `RUNTIME run` of a busybox bundle whose process is /bin/true:
# berth against runc and crun, with hyperfine.
#
# Usage: hack/bench/run.sh
#
# Environment:
#   RUNS        timed runs per runtime (default 100), after 5 warmup runs
#   CONTENDERS  runtimes to measure, in order (default "berth runc crun");
#               berth is skipped with a message if its binary is missing,
#               crun if it is not installed
#   BERTH       berth binary to use; when unset, `cargo build --release -p
#               berth` is run and target/release/berth is used
#   RUNC, CRUN  runc and crun binaries (default: found on PATH)
#   BENCH_OUT   directory to keep the hyperfine JSON exports and summary in
#               (default: a temp dir, removed on exit)
#
# crun refuses this host's hybrid cgroups, so it runs as
#   unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && crun --cgroup-manager=disabled ...'
# and that wrapper alone (running /bin/true) is measured too, so its cost can
# be subtracted: the summary shows crun both raw and net of the wrapper.
set -euo pipefail

hack=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(dirname "$hack")

runs=${RUNS:-100}
warmup=5
read -r -a contenders <<<"${CONTENDERS:-berth runc crun}"
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench: RUNS must be a positive integer, got '$runs'" >&2; exit 2; }

if [[ $(id -u) -ne 0 ]]; then
	echo "bench: must run as root (containers need namespaces and cgroups)" >&2
	exit 1
fi
"$hack/install-deps.sh"

log() { printf '\n==> %s\n' "$*" >&2; }

# --- resolve the runtimes --------------------------------------------------
declare -A bin=()
for c in "${contenders[@]}"; do
	case $c in
	berth)
		if [[ -z ${BERTH:-} ]]; then
			log "building berth (release)"
			(cd "$repo" && cargo build --release -p berth)
			b=$repo/target/release/berth
		else
			b=$BERTH
		fi
		if ! b=$(command -v "$b"); then
			echo "bench: skipping berth: binary '${BERTH:-$repo/target/release/berth}' not found" >&2
			continue
		fi
		bin[berth]=$b
		;;
	runc | crun)
		var=${c^^}
		b=${!var:-$c}
		if ! b=$(command -v "$b"); then
			echo "bench: skipping $c: not installed" >&2
			continue
		fi
		bin[$c]=$b
		;;
	*)
		echo "bench: unknown contender '$c' (known: berth runc crun)" >&2
		exit 2
		;;
	esac
done
[[ ${#bin[@]} -gt 0 ]] || { echo "bench: nothing to measure" >&2; exit 1; }

# --- scratch space and cleanup ----------------------------------------------
tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
out=${BENCH_OUT:-$tmp/results}
mkdir -p "$out"
# One id per script run: `run` deletes the container when it exits, so every
# timed run reuses it; the check below proves each runtime really does delete.
id=bench-$$

# crun in its own mount namespace, on a private cgroup2 mount (see above).
crun_wrap() {
	local script="mount -t cgroup2 none /sys/fs/cgroup && $*"
	if [[ $script == *"'"* ]]; then
		printf 'unshare -m sh -c %q' "$script"
	else
		printf "unshare -m sh -c '%s'" "$script"
	fi
}
# The command line that runs subcommand ARGS of runtime C with its own --root.
rt_cmd() {
	local c=$1
	shift
	local root
	root=$(printf '%q' "$tmp/root-$c")
	case $c in
	crun) crun_wrap "$(printf '%q' "${bin[crun]}") --cgroup-manager=disabled --root $root $*" ;;
	*) printf '%q --root %s %s' "${bin[$c]}" "$root" "$*" ;;
	esac
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local c leftover
	for c in "${!bin[@]}"; do
		[[ -d $tmp/root-$c ]] || continue
		# Anything left behind by an interrupted run.
		for leftover in "$tmp/root-$c"/*/; do
			[[ -d $leftover ]] || continue
			sh -c "$(rt_cmd "$c" delete -f "$(basename "$leftover")")" >/dev/null 2>&1 || true
		done
	done
	rm -rf -- "$tmp"
}
trap cleanup EXIT
# hyperfine carries on through SIGINT, so it runs in a session of its own
# (with the runtime it is timing) and a signal to this script stops them all.
hf_pid=
# shellcheck disable=SC2317 # called from the INT/TERM trap
on_signal() {
	if [[ -n $hf_pid ]]; then
		kill -TERM -- "-$hf_pid" 2>/dev/null || true
		wait "$hf_pid" 2>/dev/null || true
	fi
	echo "bench: interrupted" >&2
	exit 130
}
trap on_signal INT TERM

# --- the bundle ---------------------------------------------------------------
# The same runc-style config.json for every runtime: runc's `spec` template
# when runc is installed, else berth's.
spec_rt=$(command -v runc || echo "${bin[berth]:-}")
[[ -n $spec_rt ]] || { echo "bench: need runc or berth to write config.json" >&2; exit 1; }
log "making the bundle (config.json from $spec_rt spec)"
BERTH=$spec_rt "$hack/mkbundle.sh" "$tmp/bundle" -- /bin/true
# A second config on the same rootfs, for the correctness check.
mkdir -p "$tmp/check"
jq --arg root "$tmp/bundle/rootfs" \
	'.root.path = $root | .process.args = ["/bin/echo", "berth-bench-ok"]' \
	"$tmp/bundle/config.json" >"$tmp/check/config.json"

# --- check: each runtime really runs the container, and cleans it up ---------
measured=()
for c in "${contenders[@]}"; do
	[[ -n ${bin[$c]:-} ]] || continue
	mkdir -p "$tmp/root-$c"
	if ! got=$(sh -c "$(rt_cmd "$c" run --bundle "$tmp/check" "$id")" 2>&1) ||
		[[ $got != *berth-bench-ok* ]]; then
		echo "bench: $c does not run the check container (expected 'berth-bench-ok'), skipping it; it said:" >&2
		printf '%s\n' "${got:-(no output)}" | sed 's/^/    /' >&2
		continue
	fi
	if sh -c "$(rt_cmd "$c" state "$id")" >/dev/null 2>&1; then
		echo "bench: $c left container $id behind after 'run', skipping it" >&2
		continue
	fi
	measured+=("$c")
	log "$c: $("${bin[$c]}" --version 2>&1 | head -n1)"
done
[[ ${#measured[@]} -gt 0 ]] || { echo "bench: no runtime passed the check" >&2; exit 1; }

# --- measure -------------------------------------------------------------------
# -N: no shell between hyperfine and the runtime, so nothing to subtract for
# berth and runc. --prepare (not timed) removes a leftover container, if any.
bench() {
	local name=$1 cmd=$2 prepare=$3
	log "$name: $cmd"
	# setsid does not fork here (a background job is no group leader), so
	# $! is hyperfine and leads its own process group.
	setsid hyperfine -N --style basic --warmup "$warmup" --runs "$runs" \
		--prepare "$prepare" \
		--command-name "$name" \
		--export-json "$out/$name.json" \
		"$cmd" &
	hf_pid=$!
	if ! wait "$hf_pid"; then
		echo "bench: hyperfine failed on $name" >&2
		exit 1
	fi
	hf_pid=
}
for c in "${measured[@]}"; do
	bench "$c" "$(rt_cmd "$c" run --bundle "$tmp/bundle" "$id")" \
		"sh -c $(printf '%q' "$(rt_cmd "$c" delete -f "$id") >/dev/null 2>&1 || true")"
done
results=()
for c in "${measured[@]}"; do results+=("$out/$c.json"); done
if [[ " ${measured[*]} " == *" crun "* ]]; then
	bench crun-wrapper "$(crun_wrap /bin/true)" true
	results+=("$out/crun-wrapper.json")
fi

# --- summary -----------------------------------------------------------------
echo
echo "run of a /bin/true busybox bundle, $(uname -r), $(nproc) cpus"
base=${measured[0]}
[[ " ${measured[*]} " == *" berth "* ]] && base=berth
jq -s --arg base "$base" -r '
	# x.yy with exactly two decimals (jq has no printf).
	def fix2: (. * 100 | round) as $n | ($n | fabs) as $a
		| (if $n < 0 then "-" else "" end) + ($a / 100 | floor | tostring) + "."
		+ ($a % 100 | tostring | if length < 2 then "0" + . else . end);
	def ms: . * 1000 | fix2;
	def pad(n): tostring | (" " * (n - length)) + .;
	def lpad(n): tostring | . + (" " * (n - length));
	(map(.results[0]) | map({key: .command, value: .}) | from_entries) as $r
	| $r[$base].median as $b
	| [ ($r | to_entries[] | .value
	      | {name: .command, median, mean, stddev, min, max}) ]
	  + (if $r.crun and $r["crun-wrapper"] then
	       [{name: "crun (net of wrapper)",
	         median: ($r.crun.median - $r["crun-wrapper"].median),
	         mean: ($r.crun.mean - $r["crun-wrapper"].mean),
	         stddev: null, min: null, max: null}]
	     else [] end)
	| ("runtime" | lpad(22)) + ("median" | pad(9)) + ("mean" | pad(9))
	  + ("stddev" | pad(9)) + ("min" | pad(9)) + ("max" | pad(9))
	  + ("  vs " + $base),
	  (.[] | (.name | lpad(22))
	    + ([.median, .mean, .stddev, .min, .max]
	       | map(if . == null then "-" else ms end | pad(9)) | add)
	    + (if .name == "crun-wrapper" then "  -"
	       else "  " + (.median / $b | fix2) + "x" end))
' "${results[@]}" | tee "$out/summary.txt"
echo "(times in ms; ${runs} runs after ${warmup} warmups; ratio = median / median of $base)"
[[ -n ${BENCH_OUT:-} ]] && echo "results kept in $out"
exit 0
