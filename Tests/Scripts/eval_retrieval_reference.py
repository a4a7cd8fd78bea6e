#!/usr/bin/env python3
"""Exact dense retrieval with sentence-transformers on the very chunks Mnemo indexed, scored the way
`mnemo eval retrieval` scores it (rank of the answer's paragraph among the distinct paragraphs of the
top 50 chunks). The reference for "dense within 0.01 of exact sentence-transformers retrieval".

    mnemo eval retrieval --squad ../shared/data/squad/squad2-dev-slice.json --mode dense --dump /tmp/dump
    .venv-ref/bin/python Tests/Scripts/eval_retrieval_reference.py /tmp/dump [MODEL_DIR]
"""
import json, os, sys
import numpy as np
from sentence_transformers import SentenceTransformer

dump = sys.argv[1]
model_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/.local/share/mnemo/models/all-MiniLM-L6-v2")
chunks = [json.loads(l) for l in open(os.path.join(dump, "chunks.jsonl"), encoding="utf-8")]
questions = [json.loads(l) for l in open(os.path.join(dump, "questions.jsonl"), encoding="utf-8")]
model = SentenceTransformer(model_dir, device="cpu")
C = model.encode([c["text"] for c in chunks], batch_size=32, normalize_embeddings=True)
Q = model.encode([q["question"] for q in questions], batch_size=32, normalize_embeddings=True)
scores = Q @ C.T
hit1 = hit5 = rr = 0.0
for qi, q in enumerate(questions):
    seen = []
    for ci in np.argsort(-scores[qi])[:50]:
        p = chunks[ci]["paragraph"]
        if p not in seen:
            seen.append(p)
    if q["paragraph"] in seen:
        rank = seen.index(q["paragraph"]) + 1
        hit1 += rank == 1
        hit5 += rank <= 5
        rr += 1 / rank if rank <= 10 else 0
n = len(questions)
print(json.dumps({"mode": "dense (sentence-transformers, exact)", "questions": n,
                  "hit@1": round(hit1 / n, 4), "hit@5": round(hit5 / n, 4), "mrr@10": round(rr / n, 4)}))
