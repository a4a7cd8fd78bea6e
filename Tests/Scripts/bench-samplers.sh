#!/usr/bin/env bash
# Samplers and speculative decoding, measured: `mnemo bench samplers` for fixed prompts and seeds
# (diversity as distinct-n across samples; coherence proxy as the larger model's perplexity of the
# samples), then speculative decoding's speed-up and acceptance (target alone and with the draft, in
# the same run, alternating order per prompt). Figures only (benchmarks are not tests).
#
#   swift build -c release --product mnemo && Tests/Scripts/bench-samplers.sh > /tmp/samplers.md
#
# Environment:
#   MNEMO_BENCH     our command (default .build/release/mnemo)
#   BENCH_THREADS   threads (default 2)
#   BENCH_SAMPLES   samples per prompt, configuration and temperature (default 3)
#   BENCH_TOKENS    tokens per sample (default 40)
#   BENCH_PROMPTS   built-in prompts used, 1-4 (default 4)
#   BENCH_SPEC_TOKENS tokens per speculative run (default 64)
#   BENCH_PARTS     samplers,speculative (default both)
# Needs qwen-0.5b and qwen-1.5b (MNEMO_MODELS_SET=all make setup). Waits while /tmp/mnemo-quiet exists
# (someone else is timing) and runs at nice 10.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MNEMO_BENCH="${MNEMO_BENCH:-$ROOT/.build/release/mnemo}"
THREADS="${BENCH_THREADS:-2}"
[ -x "$MNEMO_BENCH" ] || { echo "bench-samplers: no mnemo at $MNEMO_BENCH (swift build -c release --product mnemo)" >&2; exit 1; }

while [ -e /tmp/mnemo-quiet ]; do echo "bench-samplers: /tmp/mnemo-quiet exists, waiting" >&2; sleep 20; done

args=(bench samplers --threads "$THREADS" --samples "${BENCH_SAMPLES:-3}" --tokens "${BENCH_TOKENS:-40}"
      --prompts "${BENCH_PROMPTS:-4}" --spec-tokens "${BENCH_SPEC_TOKENS:-64}" --parts "${BENCH_PARTS:-samplers,speculative}")
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, threads=$THREADS"
echo "# command: nice -n 10 mnemo ${args[*]}"
start=$(date +%s)
nice -n 10 "$MNEMO_BENCH" "${args[@]}"
echo
echo "# wall time: $(( $(date +%s) - start )) s"
