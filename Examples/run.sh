#!/usr/bin/env bash
# The main job of `make run`: index Examples/corpus into the store, show what it holds, and answer
# the example questions with their sources. Re-running re-indexes only what changed.
set -euo pipefail
BIN=${1:-.build/release/mnemo}
STORE=${2:-Index}
cd "$(dirname "$0")/.."

"$BIN" index Examples/corpus --store "$STORE"
echo
"$BIN" stats --store "$STORE"
head -n 4 Examples/queries.txt | while IFS= read -r question; do
  echo
  echo "? $question"
  "$BIN" query "$question" --store "$STORE" -k 2
done

# Answers from the notes, in the default mode (the sentences of the 3 best chunks closest to the question,
# hybrid retrieval, tools only for computations).
for question in "When is the boiler's next service due, and who did the last one?" \
                "How long does the red lentil soup simmer?"; do
  echo
  echo "? $question"
  "$BIN" ask "$question" --store "$STORE"
done
