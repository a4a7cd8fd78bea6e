#!/usr/bin/env bash
# Coverage-guided fuzzing of Mnemo's parsers with libFuzzer (from the Swift toolchain's clang).
#
#   Tests/Scripts/fuzz.sh [SECONDS] [TARGET...]     default: 600 s for every target, 2 at a time (FUZZ_JOBS)
#
# Builds `mnemo-fuzz` in .build-fuzz with coverage and AddressSanitizer on Mnemo's own modules, runs each
# target for SECONDS from its kept inputs in Tests/Fuzz/TARGET, writes any crash, timeout or out-of-memory
# input to Tests/Fuzz/TARGET/crashes/ (fix it, keep the file: `make test` replays every input there),
# merges the inputs that found new coverage into Tests/Fuzz/TARGET, and prints the table of executions
# and crashes per target (also in .build-fuzz/fuzz-report.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/opt/swift/usr/bin:$PATH
seconds=${1:-600}
shift || true
jobs=${FUZZ_JOBS:-2}

libfuzzer=$(ls "$(dirname "$(command -v swiftc)")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)
[[ -f "$libfuzzer" ]] || { echo "fuzz.sh: no libclang_rt.fuzzer_no_main in the Swift toolchain" >&2; exit 2; }
echo "== building mnemo-fuzz with libFuzzer and AddressSanitizer (.build-fuzz)"
MNEMO_FUZZ=1 MNEMO_LIBFUZZER="$libfuzzer" swift build -c release --build-path .build-fuzz --product mnemo-fuzz
bin=.build-fuzz/release/mnemo-fuzz

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <("$bin" list | cut -f1)
work=.build-fuzz/runs
rm -rf "$work" && mkdir -p "$work"
# Leaks are not crashes here (the Swift runtime keeps caches for the process's life).
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1

run_target() {
    local t=$1
    mkdir -p "$work/$t/new" "Tests/Fuzz/$t/crashes"
    # New inputs go to the first directory; the kept ones are read from the second.
    "$bin" run "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 \
        -artifact_prefix="$work/$t/" "$work/$t/new" "Tests/Fuzz/$t" > "$work/$t/log" 2>&1 || true
}

echo "== fuzzing ${#targets[@]} targets for ${seconds} s each, $jobs at a time ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
running=0
for t in "${targets[@]}"; do
    run_target "$t" &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait

# The kept corpus stays small enough to commit: beyond FUZZ_CORPUS_BYTES (default 256 KiB) or
# FUZZ_CORPUS_FILES (default 200) per target the largest merged inputs go (seeds and crashes stay),
# so `make test` replays it in seconds.
budget=${FUZZ_CORPUS_BYTES:-262144}
max_files=${FUZZ_CORPUS_FILES:-200}
prune() {
    local dir=$1 total files
    total=$(find "$dir" -maxdepth 1 -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    files=$(find "$dir" -maxdepth 1 -type f | wc -l)
    find "$dir" -maxdepth 1 -type f -not -name 'seed-*' -printf '%s %p\n' | sort -rn | while read -r size path; do
        (( total <= budget && files <= max_files )) && break
        rm -f "$path"; total=$((total - size)); files=$((files - 1))
    done
}

report=.build-fuzz/fuzz-report.md
{
    echo "| target | seconds | executions | exec/s | coverage (edges) | inputs kept | crashes |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
} > "$report"
for t in "${targets[@]}"; do
    log="$work/$t/log"
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    secs="?"; grep -q 'stat::average_exec_per_sec' "$log" && secs=$seconds  # the run reached its end
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
    found=$(ls "$work/$t/" | grep -cE '^(crash|timeout|oom|leak)-' || true)
    # Crash inputs become regression inputs; the corpus keeps only what adds coverage.
    for f in "$work/$t"/crash-* "$work/$t"/timeout-* "$work/$t"/oom-*; do [[ -e "$f" ]] && cp "$f" "Tests/Fuzz/$t/crashes/"; done
    "$bin" run "$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 "Tests/Fuzz/$t" "$work/$t/new" > "$work/$t/merge.log" 2>&1 || true
    prune "Tests/Fuzz/$t"
    kept=$(find "Tests/Fuzz/$t" -type f -not -path '*/crashes/*' | wc -l)
    echo "| $t | $secs | ${execs:-?} | ${rate:-?} | ${cov:-?} | $kept | $found |" >> "$report"
    if (( found > 0 )); then echo "fuzz.sh: $t: $found crashing inputs, see $work/$t/log" >&2; fi
done
echo
cat "$report"
