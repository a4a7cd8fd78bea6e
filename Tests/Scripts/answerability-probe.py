#!/usr/bin/env python3
"""Can a linear probe on the decoder's residual stream tell answerable from unanswerable questions?

Reads a `mnemo eval qa --answers F --states L1,L2,…` file (each answer with the decoder's output at those layers
at the end of the question's prompt and of the check turn) and the SQuAD file it came from, and trains an
L2-regularised logistic regression on one article's questions, tested on the other's (never on questions it saw):

  answerability-probe.py ANSWERS.jsonl SQUAD.json [--lambda 0.03]

For every position and layer: the AUC on the held-out article (unanswerable scored above answerable), the
abstention and false abstention there with the threshold that gives 10% false abstention on the training
article, and, as a ceiling, the abstention at 10% false abstention with the threshold chosen on the test
article itself. Random folds that mix articles score higher; they are printed too, to show the leak (SQuAD 2.0's
unanswerable questions are written per paragraph, so a probe learns the paragraphs).
"""
import json
import sys

import numpy as np


def auc(score, y):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(len(score))
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() - 1) / 2) / (pos.sum() * (~pos).sum())


def fit(x, y, lam):
    """Newton's method on the mean logistic loss + lam/2 |w|² (the bias unpenalised), on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = lam * np.eye(z.shape[1])
    reg[-1, -1] = 0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) / len(y) + reg @ w
        hess = (z.T * (p * (1 - p))) @ z / len(y) + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return lambda x2: np.hstack([(x2 - mu) / sd, np.ones((len(x2), 1))]) @ w


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    lam = float(sys.argv[sys.argv.index("--lambda") + 1]) if "--lambda" in sys.argv else 0.03
    if "--lambda" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--lambda") + 1])
    if len(args) != 2:
        sys.exit(__doc__)
    squad = json.load(open(args[1]))
    article = {}
    for i, a in enumerate(squad["data"]):
        for p in a["paragraphs"]:
            for q in p["qas"]:
                article.setdefault(q["question"].strip(), i)
    rows = [json.loads(line) for line in open(args[0]) if line.strip()]
    rows = [r for r in rows if r.get("states") and r["question"].strip() in article]
    if not rows:
        sys.exit("no answers with states: run `mnemo eval qa … --answers F --states 10,14,23`")
    arts = np.array([article[r["question"].strip()] for r in rows])
    y = np.array([0 if r["answerable"] else 1 for r in rows])
    names = sorted(set(arts))
    if len(names) != 2:
        sys.exit(f"needs questions from exactly 2 articles (found {len(names)})")
    print(f"{len(rows)} answers with states: " + ", ".join(
        f"article {a}: {((arts == a) & (y == 0)).sum()} answerable, {((arts == a) & (y == 1)).sum()} unanswerable" for a in names))
    print(f"lambda {lam}; threshold from the training article's answerable questions (10% false abstention there)")
    print("| position | layer | test article | AUC | abstention | false abstention | ceiling: abstention at 10% false | random-fold AUC |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    layers = rows[0]["states"]["layers"]
    rng = np.random.default_rng(0)
    for position in ("question", "check"):
        for li, layer in enumerate(layers):
            x = np.array([r["states"][position][li] for r in rows], dtype=np.float64)
            folds = rng.permutation(len(y)) % 5
            mixed = np.zeros(len(y))
            for f in range(5):
                mixed[folds == f] = fit(x[folds != f], y[folds != f], lam)(x[folds == f])
            for test in names:
                train = arts != test
                probe = fit(x[train], y[train], lam)
                s_train, s_test = probe(x[train]), probe(x[~train])
                y_test = y[~train]
                threshold = np.quantile(s_train[y[train] == 0], 0.9)
                ceiling = np.quantile(s_test[y_test == 0], 0.9)
                print(f"| {position} | {layer} | {test} | {auc(s_test, y_test):.3f} | {(s_test[y_test == 1] > threshold).mean():.2f} | "
                      f"{(s_test[y_test == 0] > threshold).mean():.2f} | {(s_test[y_test == 1] > ceiling).mean():.2f} | {auc(mixed, y):.3f} |")


if __name__ == "__main__":
    main()
