#!/usr/bin/env python3
"""Reference fixtures from llama.cpp (through llama-cpp-python) for the Swift GGUF decoder tests.

Usage: llama_fixtures.py MODEL.gguf OUT.json   (run with .venv-llama's python; see llama-fixtures.sh)

Writes one compact JSON file with:
  source          llama-cpp-python version, model file name and sha256, thread count
  tokenizer       ~40 cases: text, add_bos, special, ids (llm.tokenize) and detok (llm.detokenize(ids),
                  special tokens not rendered) / detok_special (rendered)
  chat_template   the raw tokenizer.chat_template string from the GGUF metadata
  chat            renderings of that template with jinja2 as Hugging Face transformers does
                  (sandboxed env, trim_blocks, lstrip_blocks, loopcontrols, raise_exception, HF's tojson)
  greedy          6 prompts, 32 argmax tokens each (no sampling, not stopped at EOS), with the top-1/top-2
                  logits of the row each token was chosen from
  teacher_forced  a corpus text (<= 400 tokens) evaluated once: per-position argmax and top-1/top-2
                  logits, plus the 8 largest logits at a few positions
Logits are rounded to 4 decimals. Deterministic on a given build (2 threads, CPU).
"""
import hashlib
import json
import os
import sys
from importlib.metadata import version

import jinja2
import numpy as np
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
import llama_cpp
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "Examples", "corpus")
N_THREADS = 2
N_GREEDY = 32
N_TEACHER = 400


def r4(x):
    return round(float(x), 4)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


TOKENIZER_TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "hello",
    " hello",
    "  hello",
    "hello ",
    "hello   world",
    "   leading and trailing   ",
    " ",
    "\n",
    "line one\nline two\n\nline four",
    "tab\tseparated\tvalues\n\t\tindented",
    "\r\nwindows\r\nnewlines",
    "12345678901234567890",
    "3.14159",
    "1,000,000 and 2024-05-17 at 09:30",
    "def add(a, b):\n    return a + b\n\n\nclass Foo:\n    def bar(self):\n        pass\n",
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "!!! ??? ... --- ;;; ((())) [[]] {{}} <<>> ***",
    "I'm don't we'll they've she'd it's you're",
    "I'M DON'T WE'LL",
    "café naïve résumé façade Ångström Straße",
    "日本語のテキストです。中文文本。한국어 텍스트",
    "مرحبا بالعالم",
    "Привет, мир!",
    "😀 👍🏽 🇫🇷",
    "👨‍👩‍👧‍👦 family 🏳️‍🌈 flag",
    "\u00a0non-breaking\u200bzero-width\ufeffbom",
    "\U00010348 gothic \u0301 combining e\u0301",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<|endoftext|>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<s> </s> <unk> <pad>",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.com",
    "camelCaseIdentifier snake_case_identifier SCREAMING_CASE",
    ("The lighthouse keeper, whose name was Émile, wrote 3 entries a day in 1887 — \"wind NNE, "
     "sea calm\" — and in the margins drew small sketches: 🐟, ⚓, and once a whale (🐋). "
     "His log (vol. 2, pp. 14–19) notes: it's cold; we'll need 40 kg of coal by Tuesday.\n"
     "def log(msg):\n    print(f\"[{time()}] {msg}\")\n"),
]
# Cases tokenized both with special=True and special=False (special markup in text).
SPECIAL_SENSITIVE = {
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<|endoftext|>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<s> </s> <unk> <pad>",
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_notes",
        "description": "Search the user's notes.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"],
        },
    },
}

CHAT_CASES = [
    # (name, messages, tools, add_generation_prompt)
    ("user_only", [{"role": "user", "content": "Hello!"}], None, True),
    ("system_user", [{"role": "system", "content": "You are a terse assistant."},
                     {"role": "user", "content": "What is 2+2?"}], None, True),
    ("multi_turn_no_gen", [{"role": "system", "content": "You are a helpful assistant."},
                           {"role": "user", "content": "Hi, who are you?"},
                           {"role": "assistant", "content": "I am a helpful assistant."},
                           {"role": "user", "content": "Tell me a joke."}], None, False),
    ("multi_turn_gen", [{"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": "Hi, who are you?"},
                        {"role": "assistant", "content": "I am a helpful assistant."},
                        {"role": "user", "content": "Tell me a joke."}], None, True),
    ("tools_given", [{"role": "user", "content": "What's the weather in Paris?"}],
     [WEATHER_TOOL, SEARCH_TOOL], True),
    ("tool_call_and_result", [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"type": "function",
                         "function": {"name": "get_weather",
                                      "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "name": "get_weather", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
    ], [WEATHER_TOOL], True),
]

GREEDY_TEXT = ["The capital of France is", "def fibonacci(n):\n", "Once upon a time, in a small village,"]
GREEDY_CHAT = ["What is the boiling point of water at sea level?",
               "Write a Python function that reverses a string.",
               "Name three primary colors."]


def hf_tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' chat-template tojson (not jinja2's HTML-escaping built-in)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def make_renderer(template_src, bos_token, eos_token):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = hf_tojson
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(template_src)

    def render(messages, tools, add_generation_prompt):
        kwargs = dict(messages=messages, add_generation_prompt=add_generation_prompt,
                      bos_token=bos_token, eos_token=eos_token)
        if tools is not None:
            kwargs["tools"] = tools
        return template.render(**kwargs)
    return render


def file_add_bos(llm):
    # What llama.cpp decides from the file: tokenizer.ggml.add_bos_token when present, else its default
    # for the vocabulary / pre-tokenizer type (llama_vocab_get_add_bos).
    add_bos = bool(llm._model.add_bos_token())
    v = llm.metadata.get("tokenizer.ggml.add_bos_token")
    assert v is None or (str(v).lower() == "true") == add_bos, (v, add_bos)
    return add_bos


def top_k(row, k):
    idx = np.argpartition(row, -k)[-k:]
    idx = idx[np.lexsort((idx, -row[idx]))]  # largest first; ties: smaller id first (as np.argmax)
    return [[int(i), r4(row[i])] for i in idx]


def top2(row):
    (i1, l1), (i2, l2) = top_k(row, 2)
    return i1, l1, i2, l2


def main():
    model_path, out_path = sys.argv[1], sys.argv[2]
    llm = Llama(model_path=model_path, n_ctx=2048, n_threads=N_THREADS, n_threads_batch=N_THREADS,
                n_batch=512, logits_all=True, verbose=False)
    meta = llm.metadata
    add_bos = file_add_bos(llm)
    n_vocab = llm.n_vocab()
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    vocab = llm._model.vocab
    eog_ids = [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)]

    def piece(tok):
        return llm.detokenize([tok], special=True).decode("utf-8", errors="replace")

    out = {
        "source": {"llama_cpp_python": version("llama-cpp-python"), "model_file": os.path.basename(model_path),
                   "model_sha256": sha256(model_path), "n_threads": N_THREADS, "n_ctx": 2048, "n_batch": 512},
        "vocab": {"n_vocab": n_vocab, "bos_id": bos_id, "eos_id": eos_id, "eog_ids": eog_ids, "add_bos": add_bos,
                  "add_bos_token_metadata": meta.get("tokenizer.ggml.add_bos_token"),
                  "tokenizer_model": meta.get("tokenizer.ggml.model"),
                  "tokenizer_pre": meta.get("tokenizer.ggml.pre")},
    }

    # --- tokenizer -------------------------------------------------------------------------------
    cases = []
    for text in TOKENIZER_TEXTS:
        for special in ([True, False] if text in SPECIAL_SENSITIVE else [False]):
            ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
            cases.append({"text": text, "add_bos": add_bos, "special": special, "ids": ids,
                          "detok": llm.detokenize(ids).decode("utf-8", errors="replace"),
                          "detok_special": llm.detokenize(ids, special=True).decode("utf-8", errors="replace")})
    # The same short text with BOS forced on, where the file does not add it (and vice versa).
    ids = llm.tokenize(b"Hello, world!", add_bos=not add_bos, special=False)
    cases.append({"text": "Hello, world!", "add_bos": not add_bos, "special": False, "ids": ids,
                  "detok": llm.detokenize(ids).decode("utf-8", errors="replace"),
                  "detok_special": llm.detokenize(ids, special=True).decode("utf-8", errors="replace")})
    out["tokenizer"] = cases

    # --- chat template ---------------------------------------------------------------------------
    template_src = meta.get("tokenizer.chat_template")
    out["chat_template"] = template_src
    render = make_renderer(template_src, piece(bos_id) if bos_id >= 0 else "", piece(eos_id))
    chat = []
    for name, messages, tools, agp in CHAT_CASES:
        case = {"name": name, "messages": messages, "tools": tools, "add_generation_prompt": agp}
        try:
            case["rendered"] = render(messages, tools, agp)
        except Exception as e:  # recorded, not fatal
            case["rendered"] = None
            case["error"] = f"{type(e).__name__}: {e}"
        chat.append(case)
    out["chat"] = chat

    # --- greedy ----------------------------------------------------------------------------------
    prompts = [(p, "text") for p in GREEDY_TEXT]
    prompts += [(render([{"role": "user", "content": q}], None, True), "chat") for q in GREEDY_CHAT]
    greedy = []
    for prompt, kind in prompts:
        prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        llm.reset()
        llm.eval(prompt_ids)
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tokens, t1, t2, t2id = [], [], [], []
        for step in range(N_GREEDY):
            tok = int(np.argmax(row))
            i1, l1, i2, l2 = top2(row)
            assert i1 == tok
            tokens.append(tok); t1.append(l1); t2.append(l2); t2id.append(i2)
            if step + 1 < N_GREEDY:
                llm.eval([tok])
                row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        greedy.append({"kind": kind, "prompt": prompt, "prompt_ids": prompt_ids, "tokens": tokens,
                       "text": llm.detokenize(tokens, special=True).decode("utf-8", errors="replace"),
                       "top1_logit": t1, "top2_logit": t2, "top2_id": t2id})
    out["eos_id"] = eos_id
    out["greedy"] = greedy

    # --- teacher forced --------------------------------------------------------------------------
    name = sorted(f for f in os.listdir(CORPUS) if f.endswith((".md", ".txt")))[0]
    with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
        text = f.read()[:1800]
    ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)[:N_TEACHER]
    llm.reset()
    llm.eval(ids)
    logits = np.array(llm.scores[:len(ids)], dtype=np.float32)
    top2s = [top2(r) for r in logits]
    last = len(ids) - 1
    out["teacher_forced"] = {
        "source_file": f"Examples/corpus/{name}", "n_chars": len(text), "add_bos": add_bos, "ids": ids,
        "argmax": [int(np.argmax(r)) for r in logits],
        "top1_logit": [t[1] for t in top2s], "top2_logit": [t[3] for t in top2s],
        "top8": {str(p): top_k(logits[p], 8) for p in sorted({0, 1, 2, 100, last}) if p <= last},
    }

    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
