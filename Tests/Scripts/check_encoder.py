#!/usr/bin/env python3
"""Held-out check of mnemo's sentence encoder against sentence-transformers (all-MiniLM-L6-v2).

Usage (reference venv, see Tests/Scripts/reference-venv.sh):
    .venv-ref/bin/python Tests/Scripts/check_encoder.py SENTENCES.txt PATH/TO/mnemo [--model-dir DIR]
        [--min-cosine 0.9999]
    e.g. .venv-ref/bin/python Tests/Scripts/check_encoder.py Tests/Scripts/heldout_sentences.txt .build/release/mnemo

SENTENCES.txt: one sentence per line (blank lines skipped; tabs are kept inside a line).
Runs `mnemo embed --file F --json`      -> {"model": NAME, "dim": 384, "embeddings": [[...], ...]}
and  `mnemo tokenize --json TEXT...`   -> {"model": NAME, "tokens": [{"text": ..., "ids": [...]}, ...]}
and compares with the reference: ids as sentence-transformers feeds the model ([CLS] ... [SEP], at most
256 in all) and model.encode(..., normalize_embeddings=True). Prints one line per sentence and a summary;
exits 1 on any cosine below the threshold, any token-id mismatch, or malformed/misaligned output.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = os.environ.get("MNEMO_MODEL_DIR",
                               os.path.expanduser("~/.local/share/mnemo/models/all-MiniLM-L6-v2"))


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd[:3])} ... exited {p.returncode}\n{p.stderr.strip()[-2000:]}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise SystemExit(f"FAIL: {' '.join(cmd[:3])} ... printed no JSON ({e}): {p.stdout[:300]!r}")


def short(s, n=48):
    s = s.replace("\t", "\\t")
    return s if len(s) <= n else s[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sentences")
    ap.add_argument("mnemo")
    ap.add_argument("--model-dir", default=DEFAULT_MODEL)
    ap.add_argument("--min-cosine", type=float, default=0.9999)
    args = ap.parse_args()

    with open(args.sentences, encoding="utf-8") as f:
        sents = [line.rstrip("\r\n") for line in f]
    sents = [s for s in sents if s.strip()]
    if not sents:
        raise SystemExit(f"FAIL: no sentences in {args.sentences}")

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = SentenceTransformer(args.model_dir, device="cpu")
    ref_ids = [model.tokenize([s])["input_ids"][0].tolist() for s in sents]
    ref_emb = model.encode(sents, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    # Our side. The file handed to mnemo holds exactly the sentences compared (one per line).
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as tf:
        tf.write("\n".join(sents) + "\n")
        tmp = tf.name
    try:
        emb_out = run_json([args.mnemo, "embed", "--file", tmp, "--json"])
    finally:
        os.unlink(tmp)
    # Texts go as arguments; one starting with '-' would need '--' support in the CLI (none in the held-out set).
    tok_out = run_json([args.mnemo, "tokenize", "--json", *sents])

    problems = []
    embs = emb_out.get("embeddings")
    if not isinstance(embs, list) or len(embs) != len(sents):
        raise SystemExit(f"FAIL: embed returned {len(embs) if isinstance(embs, list) else embs!r} embeddings "
                         f"for {len(sents)} sentences")
    if emb_out.get("dim") not in (None, 384):
        problems.append(f"embed reports dim {emb_out.get('dim')}, expected 384")
    toks = tok_out.get("tokens")
    if not isinstance(toks, list) or len(toks) != len(sents):
        raise SystemExit(f"FAIL: tokenize returned {len(toks) if isinstance(toks, list) else toks!r} entries "
                         f"for {len(sents)} texts")

    ours = np.asarray(embs, dtype=np.float64)
    if ours.shape != ref_emb.shape:
        raise SystemExit(f"FAIL: embedding shape {ours.shape}, expected {ref_emb.shape}")
    norms = np.linalg.norm(ours, axis=1)
    ref = ref_emb.astype(np.float64)
    cos = (ours * ref).sum(axis=1) / np.maximum(norms * np.linalg.norm(ref, axis=1), 1e-30)

    print(f"model: mnemo={emb_out.get('model')!r} reference={os.path.basename(os.path.normpath(args.model_dir))}")
    print(f"{'#':>3}  {'cosine':>9}  {'1-cos':>8}  {'norm':>7}  {'ids':>4}  ids-match  text")
    n_id_bad = 0
    for i, s in enumerate(sents):
        entry = toks[i] if isinstance(toks[i], dict) else {}
        got = entry.get("ids")
        ok_ids = got == ref_ids[i]
        note = ""
        if entry.get("text") not in (None, s):
            note += f" [tokenize echoed text {short(str(entry.get('text')), 24)!r}]"
        if not ok_ids:
            n_id_bad += 1
            if isinstance(got, list) and got == ref_ids[i][1:-1]:
                note += " [ids match without [CLS]/[SEP]]"
            elif isinstance(got, list):
                k = next((j for j, (a, b) in enumerate(zip(got, ref_ids[i])) if a != b),
                         min(len(got), len(ref_ids[i])))
                note += (f" [first difference at {k}: ours {got[k:k + 4]} ref {ref_ids[i][k:k + 4]}"
                         f" = {model.tokenizer.convert_ids_to_tokens(ref_ids[i][k:k + 4])}; "
                         f"lengths {len(got)}/{len(ref_ids[i])}]")
            else:
                note += f" [no ids: {entry!r:.80}]"
        flag = "" if cos[i] >= args.min_cosine and ok_ids else "  <-- FAIL"
        print(f"{i:>3}  {cos[i]:9.7f}  {1 - cos[i]:8.1e}  {norms[i]:7.5f}  {len(ref_ids[i]):>4}  {'yes' if ok_ids else 'NO ':9}  "
              f"{short(s)!r}{note}{flag}")

    worst = int(np.argmin(cos))
    print(f"\nsentences: {len(sents)}  min cosine: {cos[worst]:.8f} (#{worst}, 1-cos {1 - cos[worst]:.1e})  mean cosine: {cos.mean():.8f}  "
          f"token-id mismatches: {n_id_bad}  threshold: {args.min_cosine}")
    n_cos_bad = int((cos < args.min_cosine).sum())
    if n_cos_bad:
        problems.append(f"{n_cos_bad} sentence(s) below cosine {args.min_cosine}")
    if n_id_bad:
        problems.append(f"{n_id_bad} sentence(s) with token-id mismatches")
    if np.any(np.abs(norms - 1) > 1e-3):
        print("note: some mnemo embeddings are not unit length (cosine above is norm-corrected)")
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
