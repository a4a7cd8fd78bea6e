#!/usr/bin/env bash
# Tool-use evaluation: every question of Examples/eval/arithmetic.jsonl and Examples/eval/shop-questions.jsonl
# (against Examples/shop.sqlite) asked twice, greedily: the LLM alone, then the LLM with the set's tool through
# the tool router. Prints the table (accuracy, tool calls, validity) and keeps the per-question JSON.
# Builds nothing. It is CPU-heavy (hundreds of generations): it runs niced, waits while /tmp/mnemo-quiet exists
# (someone is timing benchmarks), and pauses the evaluation (SIGSTOP) whenever that file appears.
#
#   MNEMO=.build/release/mnemo Tests/Scripts/eval-tools.sh
#   EVAL_LIMIT=20 Tests/Scripts/eval-tools.sh          # 20 questions per set, evenly spaced (deterministic)
#
# Environment:
#   MNEMO         the mnemo binary                         (default .build/release/mnemo)
#   EVAL_MODEL    model name or GGUF path                  (default qwen-0.5b)
#   EVAL_LIMIT    questions per set (default: all)
#   EVAL_THREADS  threads                                  (default 2)
#   EVAL_OUT      directory for the JSON and the table     (default /tmp/mnemo-eval-tools)
#   EVAL_NICE     niceness                                 (default 10)
#   EVAL_ARGS     more arguments for mnemo eval tools      (e.g. "--free-calls --ways tools")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MNEMO="${MNEMO:-$ROOT/.build/release/mnemo}"
MODEL="${EVAL_MODEL:-qwen-0.5b}"
THREADS="${EVAL_THREADS:-2}"
OUT="${EVAL_OUT:-/tmp/mnemo-eval-tools}"
NICE="${EVAL_NICE:-10}"

die() { echo "eval-tools: $*" >&2; exit 1; }
[ -x "$MNEMO" ] || die "no mnemo binary at $MNEMO (make release, or set MNEMO)"
mkdir -p "$OUT"
while [ -e /tmp/mnemo-quiet ]; do echo "eval-tools: /tmp/mnemo-quiet exists, waiting" >&2; sleep 20; done

args=(eval tools --model "$MODEL" --threads "$THREADS"
      --arithmetic "$ROOT/Examples/eval/arithmetic.jsonl"
      --sql "$ROOT/Examples/eval/shop-questions.jsonl" --db "$ROOT/Examples/shop.sqlite")
[ -n "${EVAL_LIMIT:-}" ] && args+=(--limit "$EVAL_LIMIT")
# shellcheck disable=SC2206
[ -n "${EVAL_ARGS:-}" ] && args+=(${EVAL_ARGS})

started="$(date -u '+%Y-%m-%d %H:%M UTC')"
SECONDS=0
nice -n "$NICE" "$MNEMO" "${args[@]}" --json > "$OUT/eval-tools.json" 2> "$OUT/progress.log" &
pid=$!
trap 'kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null' INT TERM
# Pause while someone times benchmarks (/tmp/mnemo-quiet), resume after.
paused=0
while kill -0 "$pid" 2>/dev/null; do
    if [ -e /tmp/mnemo-quiet ]; then
        [ "$paused" = 1 ] || { kill -STOP "$pid" 2>/dev/null || true; paused=1; echo "eval-tools: paused (/tmp/mnemo-quiet)" >&2; }
    elif [ "$paused" = 1 ]; then
        kill -CONT "$pid" 2>/dev/null || true; paused=0; echo "eval-tools: resumed" >&2
    fi
    sleep 5
done
wait "$pid" || die "mnemo eval tools failed (see $OUT/progress.log)"
{
    echo "command: mnemo ${args[*]#$ROOT/}"
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, threads=$THREADS; started $started, ${SECONDS} s"
    python3 - "$OUT/eval-tools.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"model {r['model']}, greedy, ≤ {r['max_tokens']} tokens a round, ≤ {r['max_rounds']} rounds of calls, "
      + ("guided calls" if r["guided_calls"] else "free calls"))
print("| set | LLM | questions | correct | accuracy | tool calls | valid | validity | guided | in tags | answer = last tool result | s / question |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in r["summaries"]:
    v = "–" if s["validity"] is None else f"{s['validity']:.3f}"
    print(f"| {s['set']} | {'with tools' if s['with_tools'] else 'alone'} | {s['items']} | {s['correct']} | {s['accuracy']:.3f} "
          f"| {s['calls']} | {s['valid_calls']} | {v} | {s['guided_calls']} | {s['tagged_calls']} | {s['result_answers']} | {s['mean_seconds']:.1f} |")
PY
} | tee "$OUT/table.md"
