#!/usr/bin/env bash
# Side-by-side encoder throughput: mnemo vs sentence-transformers (the peer), measured in the same run.
# Builds nothing. Figures only (benchmarks are not tests); compare ratios, not absolute numbers.
#
#   MNEMO_BENCH=.build/release/mnemo Tests/Scripts/bench-encoder.sh
#
# Environment:
#   MNEMO_BENCH     our command; run as `$MNEMO_BENCH bench encoder --file F --threads T --batch B`,
#                   must print a line `sentences/s: N`            (default .build/release/mnemo)
#   REF_PYTHON      python with sentence-transformers             (default .venv-ref/bin/python,
#                                                                  see Tests/Scripts/reference-venv.sh)
#   MNEMO_MODEL_DIR model directory for the peer                  (default ~/.local/share/mnemo/models/all-MiniLM-L6-v2)
#   BENCH_THREADS   thread counts                                 (default "1 2")
#   BENCH_BATCH     batch size                                    (default 32)
#   BENCH_REPEAT    copies of the sentence list in the input file (default 2: the SQuAD slice splits into
#                   379 context sentences; two copies give 758 lines and a longer timing window)
#   BENCH_SQUAD     SQuAD 2.0 JSON                                (default ../shared/data/squad/squad2-dev-slice.json)
#   BENCH_ROUNDS    alternating peer/mnemo runs per thread count; the table keeps each side's best
#                   (default 1; use 3 on a shared, noisy machine)
#   PEER_ONLY=1     run only the peer (checks the peer side without a build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="$(dirname "$ROOT")/shared"
MNEMO_BENCH="${MNEMO_BENCH:-$ROOT/.build/release/mnemo}"
REF_PYTHON="${REF_PYTHON:-$ROOT/.venv-ref/bin/python}"
MODEL_DIR="${MNEMO_MODEL_DIR:-$HOME/.local/share/mnemo/models/all-MiniLM-L6-v2}"
THREADS="${BENCH_THREADS:-1 2}"
BATCH="${BENCH_BATCH:-32}"
REPEAT="${BENCH_REPEAT:-2}"
SQUAD="${BENCH_SQUAD:-$SHARED/data/squad/squad2-dev-slice.json}"
PEER="$SHARED/bench/peer_encoder.py"
ROUNDS="${BENCH_ROUNDS:-1}"
PEER_ONLY="${PEER_ONLY:-0}"

die() { echo "bench-encoder: $*" >&2; exit 1; }
[ -x "$REF_PYTHON" ] || die "no reference python at $REF_PYTHON (run Tests/Scripts/reference-venv.sh)"
[ -f "$PEER" ] || die "peer script not found: $PEER"
[ -d "$MODEL_DIR" ] || die "model directory not found: $MODEL_DIR"
if [ "$PEER_ONLY" != 1 ]; then
    command -v "$MNEMO_BENCH" >/dev/null 2>&1 || [ -x "$MNEMO_BENCH" ] \
        || die "not executable: $MNEMO_BENCH (build with: swift build -c release; or set MNEMO_BENCH)"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FILE="$TMP/sentences.txt"
python3 "$ROOT/Tests/Scripts/squad_sentences.py" "$SQUAD" > "$TMP/once.txt"
for _ in $(seq "$REPEAT"); do cat "$TMP/once.txt"; done > "$FILE"
N=$(grep -c . "$FILE")
echo "bench-encoder: $N sentences ($(grep -c . "$TMP/once.txt") x $REPEAT), batch $BATCH, $(nproc) CPUs, $(date -u +%FT%TZ)" >&2

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
best() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b + 0 > a + 0) print b; else print a }'; }
ROWS=()
for T in $THREADS; do
    peer="" ours=""
    for R in $(seq "$ROUNDS"); do
        # Peer: prints "peer=... sent_per_s=N".
        peer_line=$(OMP_NUM_THREADS="$T" MKL_NUM_THREADS="$T" "$REF_PYTHON" "$PEER" "$MODEL_DIR" "$FILE" "$T" "$BATCH" \
            2>/dev/null | grep 'sent_per_s=' | tail -1) || die "peer failed at $T threads"
        echo "  [$T threads, round $R] $peer_line" >&2
        v=$(sed -n 's/.*sent_per_s=\([0-9.]*\).*/\1/p' <<<"$peer_line")
        [ -n "$v" ] || die "could not read the peer's sent_per_s at $T threads"
        peer=$(best "$peer" "$v")
        if [ "$PEER_ONLY" != 1 ]; then
            out=$("$MNEMO_BENCH" bench encoder --file "$FILE" --threads "$T" --batch "$BATCH") \
                || die "$MNEMO_BENCH bench encoder failed at $T threads"
            ours_line=$(grep -i 'sentences/s:' <<<"$out" | tail -1)
            echo "  [$T threads, round $R] mnemo: $ours_line" >&2
            v=$(sed -n 's/.*sentences\/s:[[:space:]]*\([0-9.]*\).*/\1/p' <<<"$ours_line")
            [ -n "$v" ] || die "no 'sentences/s: N' line from $MNEMO_BENCH at $T threads"
            ours=$(best "$ours" "$v")
        fi
    done
    if [ "$PEER_ONLY" = 1 ]; then
        ROWS+=("| $T | n/a | $peer | n/a |")
    else
        ROWS+=("| $T | $ours | $peer | $(awk -v a="$ours" -v b="$peer" 'BEGIN{printf "%.2f", a/b}') |")
    fi
done

echo
echo "all-MiniLM-L6-v2, $N SQuAD sentences, batch $BATCH, best of $ROUNDS round(s)"
echo
echo "| threads | Mnemo sent/s | sentence-transformers sent/s | ratio (Mnemo / s-t) |"
echo "|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
