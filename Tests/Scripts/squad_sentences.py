#!/usr/bin/env python3
"""Benchmark sentences from a SQuAD 2.0 JSON file, one per line on stdout.

Usage: squad_sentences.py [SQUAD.json] [--questions]

Splits every "context" paragraph into sentences with a small regex splitter: a break after
'.', '!' or '?' (optionally followed by a closing quote or bracket) and whitespace, when the next
sentence starts with an upper-case letter, a digit, a quote or an opening bracket; never after a
few abbreviations (e.g., i.e., Mr., St., c., ...). Newlines inside a sentence become spaces.
--questions also appends the question texts (short, query-like lines).
The count goes to stderr so stdout stays a clean sentence file. Standard library only.
"""
import json
import os
import re
import sys

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                       "shared", "data", "squad", "squad2-dev-slice.json")

ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "c.", "ca.", "Mr.", "Mrs.", "Ms.", "Dr.",
                 "St.", "Jr.", "Sr.", "No.", "Fig.", "U.S.", "U.K.")
BREAK = re.compile(r"""(?<=[.!?])["')\]’”]?\s+(?=["'(\[“‘]?[A-Z0-9])""")


def split_sentences(paragraph):
    text = re.sub(r"\s+", " ", paragraph).strip()
    out, start = [], 0
    for m in BREAK.finditer(text):
        head = text[start:m.start()]
        # m.start() is just after the terminator (or after a closing quote that follows it).
        if any(head.endswith(a) for a in ABBREVIATIONS):
            continue
        end = m.start()
        if end < len(text) and text[end] in "\"')]’”":
            end += 1
        out.append(text[start:end].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    questions = "--questions" in argv
    path = args[0] if args else os.path.normpath(DEFAULT)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    lines = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            lines.extend(split_sentences(para["context"]))
    if questions:
        for article in data["data"]:
            for para in article["paragraphs"]:
                lines.extend(q["question"].strip() for q in para["qas"] if q["question"].strip())
    out = sys.stdout
    for s in lines:
        out.write(s + "\n")
    print(f"squad_sentences: {len(lines)} lines from {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
