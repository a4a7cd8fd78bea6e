#!/usr/bin/env python3
"""Abstention from `mnemo eval qa --verify --answers F` files: how well the verification margin
(log p(no) - log p(yes), `confidence.verification`) separates answerable from unanswerable questions, and the
threshold chosen on a tuning file applied once to a report file.

  abstention.py TUNE.jsonl [REPORT.jsonl] [--max-false 0.10]

For each file: AUC of the margin (unanswerable above answerable), then for the tuning file the lowest
threshold whose false abstention (answerable questions withdrawn, or answered "Not in your notes.") is at
most --max-false, with the abstention it gives; that threshold is then applied to the report file.
"""
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def margin(row):
    c = row.get("confidence") or {}
    v = c.get("verification")
    return float("inf") if row.get("abstained") and not row.get("withdrawn") else (v if v is not None else float("-inf"))


def auc(rows):
    pos = [margin(r) for r in rows if not r["answerable"]]
    neg = [margin(r) for r in rows if r["answerable"]]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def rates(rows, threshold):
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    abst = sum(margin(r) > threshold for r in una) / max(1, len(una))
    false = sum(margin(r) > threshold for r in ans) / max(1, len(ans))
    return abst, false


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    max_false = 0.10
    if "--max-false" in sys.argv:
        max_false = float(sys.argv[sys.argv.index("--max-false") + 1])
        args.remove(sys.argv[sys.argv.index("--max-false") + 1])
    tune = load(args[0])
    print(f"tune {args[0]}: {sum(r['answerable'] for r in tune)} answerable, "
          f"{sum(not r['answerable'] for r in tune)} unanswerable, margin AUC {auc(tune):.3f}")
    candidates = sorted({margin(r) for r in tune if margin(r) not in (float('inf'), float('-inf'))})
    best = None
    for t in candidates:
        a, f = rates(tune, t)
        if f <= max_false and (best is None or a > best[1]):
            best = (t, a, f)
    if best is None:
        print("no threshold keeps false abstention under the limit")
        return
    t, a, f = best
    print(f"tune: threshold {t:.3f} abstains on {a:.0%} of unanswerable at {f:.0%} false abstention")
    for path in args[1:]:
        rows = load(path)
        a, f = rates(rows, t)
        print(f"report {path}: margin AUC {auc(rows):.3f}; threshold {t:.3f} abstains on {a:.0%} at {f:.0%} false abstention")


if __name__ == "__main__":
    main()
