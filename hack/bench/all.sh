#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs and generated sh are single-quoted on purpose
# The runtime benchmark suite: berth against runc, crun (and youki when
# given), interleaved, with a floor program, a per-phase breakdown of berth
# and a syscall count of every contender. Prints every table on stdout.
#
# Usage: sudo hack/bench/all.sh
#
# Environment:
#   RUNS          timed iterations per benchmark (default 100), after WARMUP
#                 (default 3) untimed ones
#   CONTENDERS    runtimes, in order (default "berth runc crun", plus youki
#                 when YOUKI is set); a missing one is skipped with a message.
#                 NAME=PATH adds any runc-compatible binary, e.g.
#                 "berth berth-old=/tmp/berth.orig" compares two builds
#   BENCHES       which benchmarks (default: all of "startup run lifecycle
#                 exec batch seccomp userns phases strace")
#   BATCH         containers in the batch benchmark (default 100),
#                 PARALLEL at a time (default 2), BATCH_ROUNDS rounds
#                 (default 5)
#   BERTH         berth binary; when unset, hack/build-berth.sh builds the
#                 release binary (static musl when it can) and that is used. Either way the
#                 binary is copied first, so a rebuild during the run cannot
#                 change it.
#   RUNC, CRUN    runc and crun binaries (default: found on PATH)
#   YOUKI         youki binary (a path; there is no Debian package)
#   BENCH_OUT     directory to keep the raw records and tables in
#
# Method (see docs/performance.md): one loop per benchmark; each iteration
# runs every contender once, in an order rotated by one each iteration, so
# drift on the machine hits all alike. `timer` (timer.c) times each command
# from spawn to wait4 and records its peak RSS, and the CPU time and minor
# page faults of it and the processes it waited for; this script's own work
# is never timed. crun refuses this host's hybrid cgroups, so it runs as
#   unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled ...'
# and that wrapper alone (the same script with nothing to exec, so sh exits
# where it would exec crun) is one more contender, timed in
# the same rounds: "crun net of wrapper" is median(crun) - median(wrapper).
#
# Everything runs under `reaper` (reaper.c), a child subreaper like
# containerd's shim, so exited containers are reaped at once. Containers,
# state directories, bundles and bench-* cgroups are removed on exit, ^C
# included, and the leftovers check says so.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hack=$(dirname "$here")
repo=$(dirname "$hack")

runs=${RUNS:-100}
warmup=${WARMUP:-3}
batch=${BATCH:-100}
parallel=${PARALLEL:-2}
batch_rounds=${BATCH_ROUNDS:-5}
all_benches="startup run lifecycle exec batch seccomp userns phases strace"
read -r -a benches <<<"${BENCHES:-$all_benches}"
default_contenders="berth runc crun"
[[ -n ${YOUKI:-} ]] && default_contenders+=" youki"
read -r -a contenders <<<"${CONTENDERS:-$default_contenders}"

die() {
	echo "bench: $*" >&2
	exit 1
}
log() { printf '==> %s\n' "$*" >&2; }

for v in runs batch parallel batch_rounds; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v^^} must be a positive integer, got '${!v}'"
done
[[ $warmup =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$warmup'"
for b in "${benches[@]}"; do
	[[ " $all_benches " == *" $b "* ]] || die "unknown benchmark '$b' (known: $all_benches)"
done
want() { [[ " ${benches[*]} " == *" $1 "* ]]; }
[[ $(id -u) -eq 0 ]] || die "must run as root (containers need namespaces and cgroups)"

# --- first pass: tools, then run again under the reaper ------------------------
if [[ -z ${BENCH_TMP:-} ]]; then
	# gcc builds the helpers; strace is in the base list.
	"$hack/install-deps.sh" gcc libc6-dev
	tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
	trap 'rm -rf -- "$tmp"' EXIT
	# Searchable by all: the floor binds the userns rootfs as uid 100000.
	chmod 0711 "$tmp"
	mkdir "$tmp/tools"
	for t in timer floor reaper; do
		gcc -O2 -Wall -Wextra -Werror -o "$tmp/tools/$t" "$here/$t.c" ||
			die "failed to compile $here/$t.c"
	done
	trap - EXIT
	BENCH_TMP=$tmp exec "$tmp/tools/reaper" "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

# --- second pass: under the reaper ---------------------------------------------
tmp=$BENCH_TMP
timer=$tmp/tools/timer
floor=$tmp/tools/floor
records=$tmp/records.tsv
tables=$tmp/tables.txt
: >"$records"
# Every runtime's --root, on a tmpfs as /run is on a real host: on this VM's
# ext4 (mounted with discard) the state files alone cost ~0.5 ms per run.
roots=$tmp/state
mkdir -p "$roots"
mount -t tmpfs -o mode=0711 berth-bench-state "$roots"
: >"$tables"
started=$(date +%s)
declare -A bin=()
measured=()

# rt WHO ARGS...: sets CMD to the command line of runtime WHO with its own
# --root. crun gets the wrapper; "wrapper" is the wrapper alone. Arguments
# reach crun through "$@" of the inner shell, so nothing is quoted twice.
# PRE (an array, usually empty) goes right before the runtime binary, e.g.
# strace.
PRE=()
CMD=()
rt() {
	local who=$1
	shift
	case $who in
	crun)
		CMD=(unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh
			"${PRE[@]}" "${bin[crun]}" --cgroup-manager=disabled --root "$roots/crun" "$@")
		;;
	crun-direct)
		# start, delete: crun checks the cgroup layout only to make a cgroup.
		CMD=("${PRE[@]}" "${bin[crun]}" --cgroup-manager=disabled --root "$roots/crun" "$@")
		;;
	wrapper)
		# The same script with nothing to exec: `exec` without a command
		# returns and sh exits. Exec'ing /bin/true here would subtract a
		# process start crun pays itself from "crun net of wrapper".
		CMD=(unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh)
		;;
	*)
		CMD=("${PRE[@]}" "${bin[$who]}" --root "$roots/$who" "$@")
		;;
	esac
}

# CMD as one sh command line, every word in single quotes.
sq_cmd() {
	local a out=
	for a in "${CMD[@]}"; do
		[[ $a != *"'"* ]] || die "cannot quote an argument with a single quote: $a"
		out+="'$a' "
	done
	printf '%s' "${out% }"
}

# Runs CMD untimed; stops the benchmark if it fails.
run_cmd() {
	"${CMD[@]}" </dev/null >/dev/null 2>"$tmp/err" ||
		die "failed: ${CMD[*]}: $(cat "$tmp/err")"
}

# measure BENCH WHO ITER: runs CMD under the timer and records it (ITER < 1
# is a warmup and goes to a scratch file). STDIN is the command's stdin.
STDIN=/dev/null
measure() {
	local out=$records
	(($3 > 0)) || out=$tmp/warmup.tsv
	"$timer" -o "$out" -l "$1"$'\t'"$2"$'\t'"$3" -- "${CMD[@]}" <"$STDIN" >/dev/null 2>"$tmp/err" ||
		die "$1: $2 failed in iteration $3: ${CMD[*]}: $(cat "$tmp/err")"
}

# rotate N ITEMS...: ORDER = ITEMS rotated left by N (mod their count).
ORDER=()
rotate() {
	local n=$1
	shift
	local k=$(($# > 0 ? ((n % $#) + $#) % $# : 0))
	ORDER=("${@:k+1}" "${@:1:k}")
}

has() { [[ " ${measured[*]} " == *" $1 "* ]]; }

# wait_gone PID: waits (untimed) until the container process has exited.
wait_gone() {
	local n
	for ((n = 0; n < 1000; n++)); do
		[[ -e /proc/$1 ]] || return 0
		sleep 0.005
	done
	die "process $1 did not exit"
}

# --- tables ----------------------------------------------------------------------
# row [-b BASE] [-n] [-m] LABEL WHO[@K]...: a row of the next table (see
# table.jq): -b compares it with row BASE instead of the table's base, -n
# gives it no ratio, -m makes it the sum of K * median(WHO) (for "net of
# wrapper" rows) instead of a sum per iteration.
rows=$tmp/rows.jsonl
: >"$rows"
row() {
	local base='' noratio=false medians=false
	while [[ $1 == -* ]]; do
		case $1 in
		-b) base=$2; shift 2 ;;
		-n) noratio=true; shift ;;
		-m) medians=true; shift ;;
		*) die "row: unknown option $1" ;;
		esac
	done
	local label=$1
	shift
	jq -nc --arg lbl "$label" --arg base "$base" --argjson noratio "$noratio" --argjson medians "$medians" '
		{label: $lbl, noratio: $noratio, medians: $medians,
		 terms: [$ARGS.positional[] | (split("@") | {who: .[0], k: ((.[1] // "1") | tonumber)})]}
		+ (if $base == "" then {} else {base: $base} end)' --args -- "$@" >>"$rows"
}
# The usual rows: every runtime, crun net of the wrapper, the wrapper.
# SUFFIX picks e.g. WHO:up records.
runtime_rows() {
	local suffix=${1:-} c
	for c in "${measured[@]}"; do row "$c" "$c$suffix"; done
	if has crun; then
		row -m "crun net of wrapper" "crun$suffix" "wrapper$suffix@-1"
		row -n "crun wrapper alone" "wrapper$suffix"
	fi
}
# table BENCH UNIT FIELD BASE TITLE [RATE]: prints the rows given since the
# last table.
table() {
	local spec
	spec=$(jq -sc --arg bench "$1" --arg unit "$2" --arg field "$3" --arg base "$4" \
		--arg title "$5" --arg rate "${6:-}" '
		{bench: $bench, unit: $unit, field: $field, base: $base, title: $title, rows: .}
		+ (if $rate == "" then {} else {rate: ($rate | tonumber)} end)' "$rows")
	jq -R -s -r --argjson spec "$spec" -f "$here/table.jq" "$records" | tee -a "$tables"
	: >"$rows"
}

# --- cleanup ---------------------------------------------------------------------
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$? c d left=() cg
	trap '' INT TERM
	PRE=()
	for c in "${!bin[@]}"; do
		[[ -d $roots/$c ]] || continue
		for d in "$roots/$c"/*/; do
			[[ -d $d ]] || continue
			rt "$c" delete -f "$(basename "$d")"
			"${CMD[@]}" </dev/null >/dev/null 2>&1 || true
		done
		rt "$c" list -q
		# An id has no spaces; youki 0.7 prints its table header even with -q.
		while read -r d; do
			[[ -n $d && $d != *[[:space:]]* ]] && left+=("$c container $d")
		done < <("${CMD[@]}" 2>/dev/null </dev/null || true)
	done
	# Runtimes remove their cgroups on delete; any left (an interrupted
	# create) go here, deepest first.
	while read -r cg; do
		[[ -n $cg ]] || continue
		left+=("cgroup $cg")
		rmdir -- "$cg" 2>/dev/null || true
	done < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -depth -type d -name "bench-$$-*" 2>/dev/null)
	if [[ -n ${BENCH_OUT:-} && -d $tmp ]]; then
		mkdir -p -- "$BENCH_OUT"
		cp -f -- "$tmp"/*.tsv "$tables" "$BENCH_OUT"/ 2>/dev/null || true
		cp -rf -- "$tmp/strace" "$BENCH_OUT"/ 2>/dev/null || true
	fi
	mountpoint -q "$roots" && umount "$roots"
	rm -rf -- "$tmp"
	if [[ ${#left[@]} -gt 0 ]]; then
		echo "bench: cleanup: removed leftovers: ${left[*]}" >&2
	else
		echo "bench: cleanup: no containers or bench-$$-* cgroups left" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

# --- the runtimes ------------------------------------------------------------------
mkdir -p "$tmp/bin"
names=()
for c in "${contenders[@]}"; do
	case $c in
	berth)
		if [[ -z ${BERTH:-} ]]; then
			log "building berth (release: hack/build-berth.sh)"
			b=$("$hack/build-berth.sh") || die "building berth failed"
		else
			b=$BERTH
		fi
		if ! found=$(command -v "$b"); then
			echo "bench: skipping berth: binary '$b' not found" >&2
			continue
		fi
		cp -- "$found" "$tmp/bin/berth"
		bin[berth]=$tmp/bin/berth
		names+=(berth)
		;;
	runc | crun | youki)
		var=${c^^}
		b=${!var:-}
		if [[ $c == youki && -z $b ]]; then
			echo "bench: skipping youki: set YOUKI=/path/to/youki" >&2
			continue
		fi
		if ! b=$(command -v "${b:-$c}"); then
			echo "bench: skipping $c: not installed" >&2
			continue
		fi
		bin[$c]=$b
		names+=("$c")
		;;
	*=*)
		# NAME=PATH: any other runc-compatible binary, run like runc; e.g.
		# berth-old=/tmp/berth.orig to compare two builds in one run.
		name=${c%%=*}
		[[ $name =~ ^[a-z][a-z0-9._-]*$ && $name != @(berth|runc|crun|youki|floor|wrapper|true) ]] ||
			die "contender name '$name' must be lower-case letters, digits, . _ - and not a built-in name"
		[[ -n ${bin[$name]:-} ]] && die "contender '$name' given twice"
		if ! b=$(command -v "${c#*=}"); then
			echo "bench: skipping $name: '${c#*=}' not found" >&2
			continue
		fi
		cp -- "$b" "$tmp/bin/$name"
		bin[$name]=$tmp/bin/$name
		names+=("$name")
		;;
	*) die "unknown contender '$c' (known: berth runc crun youki, or NAME=PATH)" ;;
	esac
done
[[ ${#bin[@]} -gt 0 ]] || die "no runtime to measure"

# --- bundles -----------------------------------------------------------------------
# One runc-style config.json for all: runc's `spec` template when runc is
# installed, else berth's; terminal false, process /bin/true.
spec_rt=$(command -v runc || echo "${bin[berth]:-}")
[[ -n $spec_rt ]] || die "need runc or berth to write config.json"
BERTH=$spec_rt "$hack/mkbundle.sh" "$tmp/bundle" -- /bin/true
rootfs=$tmp/bundle/rootfs
# variant NAME JQ [ARGS...]: bundle $tmp/b-NAME on the same rootfs.
variant() {
	mkdir -p "$tmp/b-$1"
	jq --arg rootfs "$rootfs" ".root.path = \$rootfs | $2" "${@:3}" \
		"$tmp/bundle/config.json" >"$tmp/b-$1/config.json"
}
variant check '.process.args = ["/bin/echo", "berth-bench-ok"]'
variant sleep '.process.args = ["/bin/sleep", "1000000"]'
# Docker's default profile as moby converts it for this architecture and the
# bundle's capabilities.
case $(uname -m) in
x86_64) goarch=amd64 ;;
aarch64) goarch=arm64 ;;
*) goarch= ;;
esac
if want seccomp || want phases; then
	[[ -n $goarch ]] || die "seccomp benchmark: no Docker profile mapping for $(uname -m)"
	jq --arg goarch "$goarch" \
		--argjson caps "$(jq -c '.process.capabilities.bounding // []' "$tmp/bundle/config.json")" \
		-f "$here/docker-seccomp.jq" "$repo/crates/berth-seccomp/src/docker-default.json" \
		>"$tmp/seccomp.json"
	variant seccomp '.linux.seccomp = $profile[0]' --slurpfile profile "$tmp/seccomp.json"
fi
# A user namespace mapping 0..65535 to 100000..: the rootfs copy is shifted
# by 100000 so that root in the container owns it.
ns_base=100000
ns_size=65536
if want userns || want phases; then
	cp -a -- "$rootfs" "$tmp/rootfs-userns"
	for u in $(find "$tmp/rootfs-userns" -printf '%U\n' | sort -u); do
		find "$tmp/rootfs-userns" -uid "$u" -exec chown -h "$((u + ns_base))" {} +
	done
	for g in $(find "$tmp/rootfs-userns" -printf '%G\n' | sort -u); do
		find "$tmp/rootfs-userns" -gid "$g" -exec chgrp -h "$((g + ns_base))" {} +
	done
	variant userns '.root.path = $r
		| .linux.namespaces += [{type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: $base, size: $size}]
		| .linux.gidMappings = [{containerID: 0, hostID: $base, size: $size}]' \
		--arg r "$tmp/rootfs-userns" --argjson base "$ns_base" --argjson size "$ns_size"
fi
# The floor enters the namespaces the bundle asks for.
floor_ns=$(jq -r '[.linux.namespaces[].type] | join(",")' "$tmp/bundle/config.json")

# --- check: each runtime really runs the container and cleans it up ----------------
for c in "${names[@]}"; do
	[[ -n ${bin[$c]:-} ]] || continue
	mkdir -p "$roots/$c"
	rt "$c" run --bundle "$tmp/b-check" "bench-$$-check"
	if ! got=$("${CMD[@]}" </dev/null 2>&1) || [[ $got != *berth-bench-ok* ]]; then
		echo "bench: skipping $c: it does not run the check container (expected 'berth-bench-ok'); it said:" >&2
		printf '%s\n' "${got:-(nothing)}" | sed 's/^/    /' >&2
		continue
	fi
	rt "$c" state "bench-$$-check"
	if "${CMD[@]}" </dev/null >/dev/null 2>&1; then
		echo "bench: skipping $c: it left container bench-$$-check behind after 'run'" >&2
		continue
	fi
	measured+=("$c")
done
[[ ${#measured[@]} -gt 0 ]] || die "no runtime passed the check"
"$floor" -n "$floor_ns" "$rootfs" /bin/true || die "the floor program fails"
base=${measured[0]}
has berth && base=berth
# Every contender of a timing loop: the floor (when asked), the runtimes,
# and crun's wrapper when crun is measured.
contestants() {
	CONTESTANTS=()
	[[ ${1:-} == floor ]] && CONTESTANTS+=(floor)
	CONTESTANTS+=("${measured[@]}")
	has crun && CONTESTANTS+=(wrapper)
	return 0
}

# How busy the CPUs are without us: one second of /proc/stat (the load
# average would still count our own previous runs).
busy=$(
	read -r _ a b c idle d e f g _ </proc/stat
	sleep 1
	read -r _ a2 b2 c2 idle2 d2 e2 f2 g2 _ </proc/stat
	total=$(((a2 + b2 + c2 + idle2 + d2 + e2 + f2 + g2) - (a + b + c + idle + d + e + f + g)))
	echo $((total > 0 ? 100 * (total - (idle2 - idle) - (d2 - d)) / total : 0))
)
{
	echo "berth runtime benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "host: kernel $(uname -r), $(nproc) cpus, ${busy}% busy in the second before the run"
	for c in "${measured[@]}"; do
		# berth's second line is its commit, -dirty with local changes.
		echo "  $c: $("${bin[$c]}" --version 2>&1 | head -n2 | paste -sd' ' -)"
	done
	echo "RUNS=$runs after WARMUP=$warmup, interleaved; times from spawn to wait4"
	if ((busy > 10)); then
		echo "warning: something else is using the CPUs: wall times will spread;"
		echo "         the CPU-time table is the steadier comparison"
	fi
	echo
} | tee -a "$tables"

# --- startup: the cost of just starting each binary -------------------------------------
if want startup; then
	whos=(true "${measured[@]}")
	log "startup: ${whos[*]}"
	for ((i = 1 - warmup; i <= runs; i++)); do
		rotate "$i" "${whos[@]}"
		for w in "${ORDER[@]}"; do
			if [[ $w == true ]]; then
				CMD=("$rootfs/bin/true")
			else
				CMD=("${bin[$w]}" --version)
			fi
			measure startup "$w" "$i"
		done
	done
	for w in "${whos[@]}"; do row "$w" "$w"; done
	table startup ms ns "$base" "startup: \`RUNTIME --version\` (exec, loading, exit; true: the rootfs's static busybox; crun unwrapped)"
	for w in "${whos[@]}"; do row "$w" "$w"; done
	table startup "" minflt "$base" "startup: minor page faults of \`RUNTIME --version\`"
fi

# --- 1, 6, 7: run -----------------------------------------------------------------------
# bench_run NAME BUNDLE [FLOOR ARGS...]: `run` of BUNDLE by every runtime,
# and the floor with FLOOR ARGS when given.
bench_run() {
	local name=$1 bundle=$2 i w
	shift 2
	contestants "${1:+floor}"
	log "$name: ${CONTESTANTS[*]}"
	for ((i = 1 - warmup; i <= runs; i++)); do
		rotate "$i" "${CONTESTANTS[@]}"
		for w in "${ORDER[@]}"; do
			if [[ $w == floor ]]; then
				CMD=("$floor" "$@")
			else
				rt "$w" run --bundle "$bundle" "bench-$$-$w"
			fi
			measure "$name" "$w" "$i"
		done
	done
}

if want run; then
	bench_run run "$tmp/bundle" -n "$floor_ns" "$rootfs" /bin/true
	row floor floor
	runtime_rows
	table run ms ns "$base" "run: \`run\` of a busybox /bin/true bundle (floor: $floor_ns + proc + pivot_root)"
	row floor floor
	runtime_rows
	table run ms cpu "$base" "run: CPU time (user + system) of the command and the processes it waited for"
fi

# --- 2, 5: create, start, delete; peak RSS ----------------------------------------------
if want lifecycle; then
	contestants
	log "lifecycle: ${CONTESTANTS[*]}"
	for ((i = 1 - warmup; i <= runs; i++)); do
		rotate "$i" "${CONTESTANTS[@]}"
		for w in "${ORDER[@]}"; do
			if [[ $w == wrapper ]]; then
				rt wrapper
				measure lifecycle wrapper "$i"
				continue
			fi
			id=bench-$$-$w-lc
			rm -f -- "$tmp/pid"
			rt "$w" create --pid-file "$tmp/pid" --bundle "$tmp/bundle" "$id"
			measure lifecycle "$w:create" "$i"
			pid=$(cat "$tmp/pid")
			# The init left behind by create, waiting for start.
			if ((i > 0)); then
				printf 'lifecycle\t%s:init\t%s\t0\t%s\t0\t0\n' "$w" "$i" \
					"$(awk '$1 == "VmHWM:" {print $2}' "/proc/$pid/status")" >>"$records"
			fi
			# crun needs its wrapper for create only; around start and delete
			# the wrapper's own cost swings from 3 to 28 ms with what ran
			# before it, too much to subtract.
			direct=$w
			[[ $w == crun ]] && direct=crun-direct
			rt "$direct" start "$id"
			measure lifecycle "$w:start" "$i"
			wait_gone "$pid"
			rt "$direct" delete "$id"
			measure lifecycle "$w:delete" "$i"
		done
	done
	# WHO:total, the three commands of one container, as records of their own.
	awk -F'\t' -v OFS='\t' '
		$1 == "lifecycle" && $2 ~ /:(create|start|delete)$/ {
			who = $2; sub(/:[a-z]*$/, "", who); k = who OFS $3
			w[k] = who; it[k] = $3; ns[k] += $4; cpu[k] += $6; n[k]++
		}
		END {
			for (k in n) if (n[k] == 3)
				printf "lifecycle\t%s:total\t%s\t%.0f\t0\t%.0f\t0\n", w[k], it[k], ns[k], cpu[k]
		}
	' "$records" >"$tmp/totals.tsv"
	cat "$tmp/totals.tsv" >>"$records"
	for cmd in create start delete total; do
		for c in "${measured[@]}"; do row -b "$base $cmd" "$c $cmd" "$c:$cmd"; done
		[[ $cmd == create || $cmd == total ]] &&
			has crun && row -m -b "$base $cmd" "crun $cmd net" "crun:$cmd" "wrapper@-1"
	done
	has crun && row -n "crun wrapper alone" wrapper
	table lifecycle ms ns "$base" "lifecycle: create --pid-file, start, delete of a /bin/true container (delete once it exited)"

	for c in "${measured[@]}"; do row "$c" "$c:create"; done
	has crun && row -n "crun wrapper alone" wrapper
	table lifecycle MiB rss "$base" "peak RSS of the runtime process during create (wait4 ru_maxrss; crun: max of wrapper and crun)"
	for c in "${measured[@]}"; do row "$c" "$c:init"; done
	table lifecycle MiB rss "$base" "RSS high-water mark of the container's init, blocked after create until start (VmHWM)"
fi

# --- 3: exec ------------------------------------------------------------------------------
if want exec; then
	contestants
	log "exec: ${CONTESTANTS[*]}"
	for c in "${measured[@]}"; do
		rt "$c" create --bundle "$tmp/b-sleep" "bench-$$-$c-exec"
		run_cmd
		rt "$c" start "bench-$$-$c-exec"
		run_cmd
	done
	for ((i = 1 - warmup; i <= runs; i++)); do
		rotate "$i" "${CONTESTANTS[@]}"
		for w in "${ORDER[@]}"; do
			rt "$w" exec "bench-$$-$w-exec" /bin/true
			measure exec "$w" "$i"
		done
	done
	for c in "${measured[@]}"; do
		rt "$c" delete -f "bench-$$-$c-exec"
		run_cmd
	done
	runtime_rows
	table exec ms ns "$base" "exec: /bin/true in a running container"
fi

# --- 4: batch -------------------------------------------------------------------------------
if want batch; then
	contestants
	log "batch: $batch containers, $parallel at a time, $batch_rounds rounds: ${CONTESTANTS[*]}"
	# One small sh script per contender: `up ID` creates and starts,
	# `down ID` force-deletes; xargs runs PARALLEL of them at a time.
	for w in "${CONTESTANTS[@]}"; do
		script=$tmp/batch-$w.sh
		{
			echo '#!/bin/sh'
			echo 'set -e'
			echo 'case $1 in'
			if [[ $w == wrapper ]]; then
				rt wrapper
				echo "up) $(sq_cmd); $(sq_cmd) ;;"
				echo "down) $(sq_cmd) ;;"
			else
				rt "$w" create --bundle "$tmp/b-sleep"
				echo "up) $(sq_cmd) \"\$2\"; \\"
				rt "$w" start
				echo "    $(sq_cmd) \"\$2\" ;;"
				rt "$w" delete -f
				echo "down) $(sq_cmd) \"\$2\" ;;"
			fi
			echo 'esac'
		} >"$script"
		chmod +x "$script"
		for ((k = 1; k <= batch; k++)); do echo "bench-$$-$w-b$k"; done >"$tmp/ids-$w"
	done
	for ((r = 1; r <= batch_rounds; r++)); do
		rotate "$r" "${CONTESTANTS[@]}"
		for w in "${ORDER[@]}"; do
			STDIN=$tmp/ids-$w
			CMD=(xargs -P "$parallel" -n 1 "$tmp/batch-$w.sh" up)
			measure batch "$w:up" "$r"
			CMD=(xargs -P "$parallel" -n 1 "$tmp/batch-$w.sh" down)
			measure batch "$w:down" "$r"
			STDIN=/dev/null
		done
	done
	runtime_rows :up
	table batch s ns "$base" "batch: create+start $batch sleeping containers, $parallel at a time (per s: containers/s)" "$batch"
	runtime_rows :down
	table batch s ns "$base" "batch: then delete -f all $batch, $parallel at a time" "$batch"
fi

if want seccomp; then
	bench_run seccomp "$tmp/b-seccomp"
	runtime_rows
	table seccomp ms ns "$base" "seccomp: \`run\` with Docker's default profile ($(jq '[.syscalls[].names[]] | length' "$tmp/seccomp.json") syscall names, $(jq -r '.architectures | join(",")' "$tmp/seccomp.json"))"
fi

if want userns; then
	bench_run userns "$tmp/b-userns" -n "$floor_ns" -u "$ns_base:$ns_size" "$tmp/rootfs-userns" /bin/true
	row floor floor
	runtime_rows
	table userns ms ns "$base" "userns: \`run\` in a user namespace (0 -> $ns_base, $ns_size ids; floor with the same)"
fi

# --- where berth spends its time -----------------------------------------------------------------
if want phases && [[ -n ${bin[berth]:-} ]]; then
	log "phases: berth --debug run, plain / seccomp / userns"
	phases=$tmp/phases.tsv
	: >"$phases"
	variants=(plain seccomp userns)
	for ((i = 1 - warmup; i <= runs; i++)); do
		rotate "$i" "${variants[@]}"
		for v in "${ORDER[@]}"; do
			b=$tmp/b-$v
			[[ $v == plain ]] && b=$tmp/bundle
			rt berth --debug run --bundle "$b" "bench-$$-berth-dbg"
			: >"$tmp/wall.tsv"
			"$timer" -o "$tmp/wall.tsv" -l x -- "${CMD[@]}" </dev/null >/dev/null 2>"$tmp/debug.log" ||
				die "phases: berth --debug run failed: $(cat "$tmp/debug.log")"
			((i > 0)) || continue
			# level=debug msg="WHAT (+N us)": the time since the previous
			# record is WHAT's. The per-syscall "seccomp: ..." notes are
			# folded into the record after them ("seccomp compiled").
			awk -F'\t' -v v="$v" -v i="$i" -v wall="$(cut -f2 "$tmp/wall.tsv")" '
				{
					if (!match($0, /msg=".*"/)) next
					msg = substr($0, RSTART + 5, RLENGTH - 6)
					if (!match(msg, / \(\+[0-9]+ us\)$/)) next
					us = substr(msg, RSTART + 3, RLENGTH - 7) + 0
					what = substr(msg, 1, RSTART - 1)
					if (what ~ /^seccomp: /) next
					if (n == 0) what = "main: arguments parsed, log set up"
					gsub(/[0-9]+/, "#", what)
					printf "%s\t%s\t%d\t%s\t%d\n", v, i, n, what, us - prev
					prev = us
					n++
				}
				END {
					printf "%s\t%s\t%d\t~outside\t%d\n", v, i, n, wall / 1000 - prev
					printf "%s\t%s\t%d\t~wall\t%d\n", v, i, n + 1, wall / 1000
				}' "$tmp/debug.log" >>"$phases"
		done
	done
	{
		echo "phases: where \`berth --debug run\` spends its time (plain, Docker seccomp, userns bundles)"
		jq -R -s -r --argjson variants '["plain","seccomp","userns"]' -f "$here/phases.jq" "$phases"
		echo
	} | tee -a "$tables"
fi

# --- syscalls ---------------------------------------------------------------------------------------
if want strace; then
	log "strace -f -c: one run each"
	mkdir -p "$tmp/strace"
	straced=$tmp/strace.tsv
	: >"$straced"
	for w in floor "${measured[@]}"; do
		f=$tmp/strace/$w.txt
		PRE=(strace -f -c -o "$f")
		if [[ $w == floor ]]; then
			CMD=("${PRE[@]}" "$floor" -n "$floor_ns" "$rootfs" /bin/true)
		else
			rt "$w" run --bundle "$tmp/bundle" "bench-$$-$w-strace"
		fi
		PRE=()
		run_cmd
		# % time, seconds, usecs/call, calls, [errors,] syscall
		awk -v w="$w" '
			/^-+ / { part++; next }
			part == 1 && NF >= 5 {
				errors = NF == 6 ? $5 : 0
				printf "%s\t%s\t%s\t%s\t%s\n", w, $NF, $4, errors, $2
			}' "$f" >>"$straced"
	done
	{
		echo "syscalls: strace -f -c of one \`run\` (crun: without its wrapper)"
		jq -R -s -r --argjson whos "$(printf '%s\n' floor "${measured[@]}" | jq -R . | jq -sc .)" \
			--argjson top 15 -f "$here/strace.jq" "$straced"
		echo
	} | tee -a "$tables"
fi

echo "took $(($(date +%s) - started)) s" | tee -a "$tables"
[[ -n ${BENCH_OUT:-} ]] && echo "raw records and tables kept in $BENCH_OUT" >&2
exit 0
