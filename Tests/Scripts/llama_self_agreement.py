"""How often llama.cpp agrees with itself on the teacher-forced top-1 fixture, across its own settings.

The fixture (Tests/MnemoModelsTests/Resources/llama-reference/*.json) was made with llama.cpp's defaults:
one batch of 512, no flash attention, f16 KV cache, 2 threads. This re-runs the same 400 positions with one
setting changed at a time and counts the positions whose most likely token is still the fixture's. It is
the yardstick for Mnemo's own agreement (LlamaReferenceTests): settings that llama.cpp users switch freely
move the top-1 of these small quantised models at a few percent of positions.

Usage: .venv-llama/bin/python Tests/Scripts/llama_self_agreement.py   (Tests/Scripts/llama-venv.sh makes the venv)
"""
import json
import os
import sys

import numpy as np
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("MNEMO_MODELS", os.path.expanduser("~/.local/share/mnemo/models"))
PAIRS = [("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"), ("Qwen2.5-Coder-0.5B-Instruct.gguf", "qwen-0.5b")]
SETTINGS = [
    ("defaults (as the fixture)", {}),
    ("flash attention on", {"flash_attn": True}),
    ("f32 KV cache", {"type_k": 0, "type_v": 0}),  # GGML_TYPE_F32
    ("batches of 64", {"n_batch": 64, "n_ubatch": 64}),
    ("1 thread", {"n_threads": 1, "n_threads_batch": 1}),
    ("one token at a time", {"token_by_token": True}),
]


def main():
    for model_file, name in PAIRS:
        path = os.path.join(MODELS, model_file)
        if not os.path.exists(path):
            sys.exit(f"missing model: {path} (run make setup)")
        with open(os.path.join(ROOT, "Tests/MnemoModelsTests/Resources/llama-reference", f"{name}.json")) as f:
            ref = json.load(f)["teacher_forced"]
        ids, expected = ref["ids"], np.array(ref["argmax"])
        for label, overrides in SETTINGS:
            overrides = dict(overrides)
            token_by_token = overrides.pop("token_by_token", False)
            args = dict(model_path=path, n_ctx=2048, n_threads=2, n_threads_batch=2, n_batch=512,
                        logits_all=True, verbose=False)
            args.update(overrides)
            llm = Llama(**args)
            llm.reset()
            if token_by_token:
                for t in ids:
                    llm.eval([t])
            else:
                llm.eval(ids)
            top1 = np.array(llm.scores[:len(ids)], dtype=np.float32).argmax(axis=1)
            print(f"{name}: {label}: {int((top1 == expected).sum())}/{len(ids)} positions agree with the fixture",
                  flush=True)
            del llm


if __name__ == "__main__":
    main()
