#!/usr/bin/env bash
# Creates the reference virtual environment .venv-ref/ in the repository root (git-ignored):
# sentence-transformers on a CPU-only torch, for fixtures (Tests/MnemoModelsTests/Resources/generate_fixtures.py),
# held-out checks (Tests/Scripts/check_encoder.py) and side-by-side benchmarks (Tests/Scripts/bench-encoder.sh).
# Never used at run time. Idempotent: does nothing when both packages are already installed there.
#
# torch is pinned to the CPU build (pip's find-links=/opt/wheels carries torch-2.13.0+cpu); without the pin
# pip would resolve a multi-GB CUDA build from the registry as a dependency of sentence-transformers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MNEMO_REF_VENV:-$ROOT/.venv-ref}"
TORCH_SPEC="${MNEMO_REF_TORCH:-torch==2.13.0+cpu}"
ST_SPEC="${MNEMO_REF_ST:-sentence-transformers==6.2.0}"   # the version the fixtures were made with
PY="${PYTHON:-python3}"

# Cheap readiness check (importing sentence_transformers takes ~20 s): both distributions installed.
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - 2>/dev/null <<'PY'
from importlib.metadata import version
print("reference venv ready: torch", version("torch"), "| sentence-transformers", version("sentence-transformers"))
PY
then
    exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first, CPU-only; then sentence-transformers with torch held at that exact version.
"$VENV/bin/python" -m pip install --quiet "$TORCH_SPEC"
"$VENV/bin/python" -m pip install --quiet "$ST_SPEC" "$TORCH_SPEC"
"$VENV/bin/python" - <<'PY'
import torch, sentence_transformers, transformers, tokenizers
assert not torch.version.cuda, f"expected a CPU-only torch, got CUDA {torch.version.cuda}"
print("torch", torch.__version__, "| sentence-transformers", sentence_transformers.__version__,
      "| transformers", transformers.__version__, "| tokenizers", tokenizers.__version__)
PY
echo "reference venv created in $(( $(date +%s) - start )) s: $VENV"
