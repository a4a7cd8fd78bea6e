#!/usr/bin/env bash
# Creates the llama.cpp reference virtual environment .venv-llama/ in the repository root (git-ignored):
# llama-cpp-python (plus numpy and jinja2) for the GGUF decoder fixtures (Tests/Scripts/llama_fixtures.py,
# run through Tests/Scripts/llama-fixtures.sh) and side-by-side benchmarks. Never used at run time.
# Idempotent: does nothing when llama-cpp-python, numpy and jinja2 are already installed there.
#
# llama-cpp-python 0.3.36 has no Linux binary wheel: pip builds it (and its vendored llama.cpp) from the
# source package with the default CMake flags, a plain CPU build. That takes ~5+ minutes on 2 cores.
# Prints the venv's python path at the end (also when it already exists).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MNEMO_LLAMA_VENV:-$ROOT/.venv-llama}"
LLAMA_SPEC="${MNEMO_LLAMA_CPP:-llama-cpp-python==0.3.36}"   # the version the fixtures were made with
PY="${PYTHON:-python3}"

# Cheap readiness check: the three distributions are installed (no import of the native library).
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$LLAMA_SPEC" >&2 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
want = sys.argv[1].split("==")[1] if "==" in sys.argv[1] else None
have = version("llama-cpp-python")
assert want is None or have == want, (have, want)
print("llama venv ready: llama-cpp-python", have, "| numpy", version("numpy"), "| jinja2", version("jinja2"))
PY
then
    echo "$VENV/bin/python"
    exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
# Source build; keep the compile to the machine's cores (2 by default) so it does not starve the host.
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
    "$VENV/bin/python" -m pip install --quiet "$LLAMA_SPEC" numpy jinja2 >&2
"$VENV/bin/python" - >&2 <<'PY'
import llama_cpp, numpy, jinja2
print("llama-cpp-python", llama_cpp.__version__, "| numpy", numpy.__version__, "| jinja2", jinja2.__version__)
PY
echo "llama venv created in $(( $(date +%s) - start )) s: $VENV" >&2
echo "$VENV/bin/python"
