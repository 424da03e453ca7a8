#!/usr/bin/env bash
# The fuzz campaign: every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET (default 60), with
# corpora seeded from the lab's packets (scripts/fuzz_seeds.py: generated lab-path packets, plus
# the packets of any pcap files in $FUZZ_PCAPS, e.g. captures of `vpcfwd run --pcap DIR`) and
# from the repo's configs. Prints a table (target, executions, exec/s, coverage, crashes) and
# one JSON line; exit 1 when a target crashed (its input is under fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        FUZZ_TARGETS="parse config" to choose
#
# Needs a nightly toolchain (`rustup toolchain list`): prints SKIPPED without one, installs
# nothing. Uses `cargo fuzz` when installed, else builds the targets itself with the same
# SanitizerCoverage flags (no AddressSanitizer: the fuzzed code is safe Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}

if ! command -v rustup >/dev/null || ! rustup toolchain list | grep -q '^nightly'; then
    echo "SKIPPED: no nightly toolchain (rustup toolchain list); the fuzz targets need one"
    exit 0
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^vpcfwd-fuzz$')}

seeds=fuzz/seeds
rm -rf "$seeds"
# shellcheck disable=SC2086
python3 scripts/fuzz_seeds.py "$seeds" ${FUZZ_PCAPS:-}

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
build() {  # build TARGET: the binary's path on stdout
    if cargo +nightly fuzz --version >/dev/null 2>&1; then
        (cd fuzz && cargo +nightly fuzz build -O -s none "$1" >&2)
    else
        RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
            cargo +nightly build --release --manifest-path fuzz/Cargo.toml --target "$triple" \
            --bin "$1" >&2
    fi
    echo "fuzz/target/$triple/release/$1"
}

rows=()
json="["
failed=0
for t in $targets; do
    corpus=fuzz/corpus/$t
    art=fuzz/artifacts/$t
    mkdir -p "$corpus" "$art" "$seeds/$t"  # a target without seeds starts from an empty dir
    log=fuzz/artifacts/$t.log
    if ! bin=$(build "$t" 2> "$log.build"); then
        echo "fuzz: $t does not build (see $log.build)" >&2
        tail -5 "$log.build" >&2
        rows+=("$t BUILD-FAILED - - -")
        json+="{\"target\":\"$t\",\"built\":false},"
        failed=1
        continue
    fi
    before=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    set +e
    "$bin" "$corpus" "$seeds/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$art/" -rss_limit_mb=2048 -timeout=10 > "$log" 2>&1
    rc=$?
    set -e
    # `|| true`: a run that died early has no stats lines (pipefail would end the script).
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    after=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    crashes=$((after - before))
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then crashes="rc=$rc"; fi
    [[ $crashes != 0 ]] && failed=1
    rows+=("$t ${execs:-0} ${rate:-0} ${cov:-0}/${ft:-0} $crashes")
    json+="{\"target\":\"$t\",\"seconds\":$secs,\"executions\":${execs:-0},\"exec_per_s\":${rate:-0},\"coverage\":${cov:-0},\"features\":${ft:-0},\"crashes\":\"$crashes\"},"
done
json="${json%,}]"

printf '%-10s %14s %10s %14s %8s\n' target executions exec/s cov/features crashes
for r in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-10s %14s %10s %14s %8s\n' $r
done
echo "{\"fuzz\": $json}"
exit $failed
