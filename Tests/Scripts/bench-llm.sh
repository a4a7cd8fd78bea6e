#!/usr/bin/env bash
# Side-by-side generation speed: mnemo vs llama.cpp (llama-cpp-python, the peer), in the same run,
# alternating peer and mnemo per round; the table keeps each side's best round. Also the peak RSS of
# `mnemo generate` against the model file and KV cache. Figures only (benchmarks are not tests).
#
#   Tests/Scripts/llama-venv.sh && swift build -c release --product mnemo && Tests/Scripts/bench-llm.sh
#
# Environment:
#   MNEMO_BENCH   our command (default .build/release/mnemo)
#   LLAMA_PYTHON  python with llama-cpp-python (default .venv-llama/bin/python)
#   BENCH_MODELS  short names (default "smollm2 qwen-0.5b qwen-1.5b"; missing models are skipped)
#   BENCH_THREADS threads (default 2)
#   BENCH_ROUNDS  alternating rounds per model (default 3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${MNEMO_SHARED:-$(dirname "$ROOT")/shared}"
MNEMO_BENCH="${MNEMO_BENCH:-$ROOT/.build/release/mnemo}"
LLAMA_PYTHON="${LLAMA_PYTHON:-$ROOT/.venv-llama/bin/python}"
MODELS="${BENCH_MODELS:-smollm2 qwen-0.5b qwen-1.5b}"
THREADS="${BENCH_THREADS:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
MODEL_DIR="${MNEMO_MODELS:-$HOME/.local/share/mnemo/models}"
PEER="$SHARED/bench/peer_llama.py"

die() { echo "bench-llm: $*" >&2; exit 1; }
[ -x "$MNEMO_BENCH" ] || die "no mnemo at $MNEMO_BENCH (swift build -c release --product mnemo)"
[ -x "$LLAMA_PYTHON" ] || die "no llama-cpp-python at $LLAMA_PYTHON (run Tests/Scripts/llama-venv.sh)"
[ -f "$PEER" ] || die "peer script not found: $PEER"

file_of() {
    case "$1" in
        smollm2) echo SmolLM2-135M-Instruct.Q4_1.gguf ;;
        qwen-0.5b) echo Qwen2.5-Coder-0.5B-Instruct.gguf ;;
        qwen-1.5b) echo Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf ;;
        *) echo "$1" ;;
    esac
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
best() { sort -g | tail -1; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, threads=$THREADS, 128-token prompt, 128 generated, best of $ROUNDS"
printf "| model | llama.cpp prefill | mnemo prefill | ratio | llama.cpp decode | mnemo decode | ratio | mnemo peak RSS | file + KV cache |\n"
printf "|---|---|---|---|---|---|---|---|---|\n"
for m in $MODELS; do
    path="$MODEL_DIR/$(file_of "$m")"
    [ -f "$path" ] || { echo "bench-llm: skipping $m ($path not installed)" >&2; continue; }
    pp_peer=(); tg_peer=(); pp_ours=(); tg_ours=()
    for _ in $(seq "$ROUNDS"); do
        line=$("$LLAMA_PYTHON" "$PEER" "$path" "$THREADS" 128 128)
        pp_peer+=("$(echo "$line" | field prefill_tok_s)"); tg_peer+=("$(echo "$line" | field decode_tok_s)")
        line=$("$MNEMO_BENCH" bench llm --model "$path" --threads "$THREADS" --prompt-tokens 128 --gen-tokens 128)
        pp_ours+=("$(echo "$line" | field prefill_tok_s)"); tg_ours+=("$(echo "$line" | field decode_tok_s)")
    done
    pp_p=$(printf "%s\n" "${pp_peer[@]}" | best); tg_p=$(printf "%s\n" "${tg_peer[@]}" | best)
    pp_o=$(printf "%s\n" "${pp_ours[@]}" | best); tg_o=$(printf "%s\n" "${tg_ours[@]}" | best)
    # Peak RSS of a real generation (~240-token prompt + 128 generated) against the file plus the KV
    # cache those positions use (reported by --json; f32 keys and values).
    out=$( { /usr/bin/time -v "$MNEMO_BENCH" generate --model "$path" --threads "$THREADS" --temperature 0 --max-tokens 128 --json \
        "$(printf 'The history of the Normans in Europe began when %.0s' $(seq 24))"; } 2>&1)
    rss_kb=$(echo "$out" | sed -n 's/.*Maximum resident set size (kbytes): //p')
    kv=$(( $(echo "$out" | sed -n 's/.*"kv_cache_bytes":\([0-9]*\).*/\1/p') / 1048576 ))
    file_mb=$(( $(stat -c %s "$path") / 1048576 ))
    printf "| %s | %.0f | %.0f | %.2f× | %.1f | %.1f | %.2f× | %d MiB | %d + %d MiB |\n" "$m" "$pp_p" "$pp_o" \
        "$(echo "$pp_o / $pp_p" | bc -l)" "$tg_p" "$tg_o" "$(echo "$tg_o / $tg_p" | bc -l)" $((rss_kb / 1024)) "$file_mb" "$kv"
done
