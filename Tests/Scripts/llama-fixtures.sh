#!/usr/bin/env bash
# Regenerates the llama.cpp reference fixtures for the Swift GGUF decoder tests:
#   Tests/MnemoModelsTests/Resources/llama-reference/smollm2.json     (SmolLM2-135M-Instruct.Q4_1.gguf)
#   Tests/MnemoModelsTests/Resources/llama-reference/qwen-0.5b.json   (Qwen2.5-Coder-0.5B-Instruct.gguf)
# Usage: Tests/Scripts/llama-fixtures.sh        (models from ${MNEMO_MODELS:-~/.local/share/mnemo/models})
# Creates .venv-llama/ first if needed (Tests/Scripts/llama-venv.sh: llama-cpp-python 0.3.36 built from
# source, ~5+ minutes the first time), then runs Tests/Scripts/llama_fixtures.py for each model
# (2 threads; about a minute for both). Never used at run time; nothing here is downloaded from a model hub.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODELS="${MNEMO_MODELS:-$HOME/.local/share/mnemo/models}"
OUT="$ROOT/Tests/MnemoModelsTests/Resources/llama-reference"
PYBIN="$("$ROOT/Tests/Scripts/llama-venv.sh" | tail -n 1)"
mkdir -p "$OUT"
for pair in "SmolLM2-135M-Instruct.Q4_1.gguf:smollm2.json" "Qwen2.5-Coder-0.5B-Instruct.gguf:qwen-0.5b.json"; do
    model="$MODELS/${pair%%:*}"
    [ -f "$model" ] || { echo "missing model: $model (run make setup)" >&2; exit 1; }
    "$PYBIN" "$ROOT/Tests/Scripts/llama_fixtures.py" "$model" "$OUT/${pair##*:}"
done
