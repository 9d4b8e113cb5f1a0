#!/usr/bin/env bash
# Fuzzes berth's input parsers within a time budget: config.json validation
# (libberth::bundle), the seccomp compiler with its BPF checked by the
# interpreter (berth-seccomp), mount options (libberth::mount_options),
# pier's image references, layer unpacking and registry manifests and
# indexes (pier-image), and compose files (pier-compose).
#
# Usage: hack/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  total budget, shared by the targets (default 60)
#   TARGET   config, seccomp, mount_options, reference, layer, manifest,
#            compose (default: all)
#
# Environment:
#   FUZZ_ENGINE  libfuzzer: `cargo fuzz` (coverage-guided, ASan); needs
#                cargo-fuzz (installed here when missing) and nightly
#                features, which the stable toolchain grants with
#                RUSTC_BOOTSTRAP=1
#                stable: the seeded driver fuzz/src/bin/stable.rs (no
#                coverage feedback, any toolchain)
#                auto (default): libfuzzer when cargo-fuzz works, else stable
#   FUZZ_SEED    seed of the stable driver (default: the date, printed)
#
# First the kept inputs (fuzz/seeds, fuzz/regressions) are replayed by
# `cargo test`. A failing input is saved under fuzz/artifacts/TARGET/ and the
# script exits 1 with the command that replays it; once the bug is fixed,
# copy the input to fuzz/regressions/TARGET/ so that it stays fixed.
set -euo pipefail

usage() { sed -n '8,11s/^# \{0,1\}//p' "$0" >&2; exit 2; }
case ${1:-} in -h | --help) usage ;; esac

budget=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
	budget=$1
	shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(config seccomp mount_options reference layer manifest compose)
for t in "${targets[@]}"; do
	case $t in config | seccomp | mount_options | reference | layer | manifest | compose) ;; *) echo "fuzz: unknown target $t" >&2; usage ;; esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz=$repo/fuzz
[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH
cd "$fuzz"

step() { printf '\n==> %s\n' "$*" >&2; }

step "replaying the kept inputs (cargo test --no-default-features)"
cargo test -q --release --no-default-features --test regressions

engine=${FUZZ_ENGINE:-auto}
if [[ $engine == auto || $engine == libfuzzer ]]; then
	if ! cargo fuzz --version >/dev/null 2>&1; then
		step "installing cargo-fuzz"
		cargo install -q cargo-fuzz || true
	fi
	if cargo fuzz --version >/dev/null 2>&1; then
		engine=libfuzzer
	elif [[ $engine == libfuzzer ]]; then
		echo "fuzz: cargo-fuzz is not available" >&2
		exit 1
	else
		engine=stable
	fi
fi

per_target=$((budget / ${#targets[@]}))
[[ $per_target -ge 1 ]] || per_target=1
failed=()

case $engine in
libfuzzer)
	# cargo-fuzz passes -Zsanitizer=address and coverage flags: nightly
	# features, which RUSTC_BOOTSTRAP=1 unlocks on the stable toolchain.
	export RUSTC_BOOTSTRAP=1
	step "building the libFuzzer targets (cargo fuzz build -O)"
	for t in "${targets[@]}"; do
		cargo fuzz build -O "$t" 2>&1 | tail -n 1 >&2
	done
	for t in "${targets[@]}"; do
		mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t"
		step "libFuzzer: $t for $per_target s"
		log=$fuzz/artifacts/$t/last-run.log
		# The first corpus directory is the one libFuzzer grows; the kept
		# seeds and regressions are read only.
		if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" "regressions/$t" -- \
			-max_total_time="$per_target" -timeout=10 -rss_limit_mb=4096 \
			-print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/" >"$log" 2>&1; then
			grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$log" | sed "s/^/$t: /" >&2 || true
		else
			failed+=("$t")
			grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20 >&2 || true
			echo "fuzz: $t failed; log: $log" >&2
			echo "  replay: cd fuzz && cargo run --release --no-default-features --bin stable -- --replay $t artifacts/$t/crash-*" >&2
		fi
	done
	;;
stable)
	seed=${FUZZ_SEED:-$(date +%Y%m%d)}
	step "seeded driver: ${targets[*]} for $budget s, seed $seed"
	args=(--seconds "$budget" --seed "$seed")
	for t in "${targets[@]}"; do args+=(--target "$t"); done
	if ! cargo run -q --release --no-default-features --bin stable -- "${args[@]}"; then
		failed+=(stable)
	fi
	;;
*)
	echo "fuzz: FUZZ_ENGINE must be auto, libfuzzer or stable" >&2
	exit 2
	;;
esac

if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
	exit 1
fi
step "fuzz: ${targets[*]}: no failure in ${budget} s ($engine)"
