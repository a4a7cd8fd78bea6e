#!/usr/bin/env bash
# Creates .venv-clients/ in the repository root (git-ignored): the official `openai` and `mcp` Python
# clients, which the server integration tests (Tests/CLITests/ServerIntegrationTests.swift) drive
# `mnemo serve` and `mnemo mcp` with, and the load test (Tests/Scripts/load-test.sh) uses; and Selenium,
# which drives Debian's chromium through chromium-driver for the web page's tests (WebPageTests.swift).
# Never used at run time. Idempotent and quiet: does nothing when all three are installed at the pinned versions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MNEMO_CLIENTS_VENV:-$ROOT/.venv-clients}"
OPENAI_SPEC="${MNEMO_OPENAI_SPEC:-openai==3.54.0}"
MCP_SPEC="${MNEMO_MCP_SPEC:-mcp==2.3.0}"
SELENIUM_SPEC="${MNEMO_SELENIUM_SPEC:-selenium==4.51.0}"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$OPENAI_SPEC" "$MCP_SPEC" "$SELENIUM_SPEC" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    assert not want or version(name) == want, (name, version(name), want)
PY
then
    exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
for try in 1 2 3; do
    if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$OPENAI_SPEC" "$MCP_SPEC" "$SELENIUM_SPEC" 2>"$VENV/pip.log"; then
        "$VENV/bin/python" -c 'import openai, mcp, selenium' && break
    fi
    echo "clients venv: install attempt $try failed: $(tail -n 2 "$VENV/pip.log" | tr '\n' ' ')" >&2
    [ "$try" = 3 ] && exit 1
    sleep $((try * 3))
done
echo "clients venv ready in $(( $(date +%s) - start )) s: $VENV ($OPENAI_SPEC, $MCP_SPEC, $SELENIUM_SPEC)" >&2
