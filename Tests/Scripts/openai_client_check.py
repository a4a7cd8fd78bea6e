"""Drives a running `mnemo serve` with the official `openai` Python client.

Usage: openai_client_check.py BASE_URL CHAT_MODEL [TOKEN]
  BASE_URL   e.g. http://127.0.0.1:8080/v1
Checks models, embeddings (the client's default base64 encoding and floats), chat with and without
streaming (with Mnemo's memory options as extra fields), and OpenAI-shaped errors. Exits non-zero
with the failing check's message; prints one line per check.
"""
import math
import sys

import openai

base_url, chat_model = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else "no-token"
client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=120)
checks = 0


def check(name, condition, detail=""):
    global checks
    if not condition:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    checks += 1
    print(f"ok   {name}", flush=True)


models = [m.id for m in client.models.list()]
check("models", chat_model in models and "all-MiniLM-L6-v2" in models, models)

emb = client.embeddings.create(model="all-MiniLM-L6-v2", input=["The cat sits on the mat.", "A feline rests on a rug."])
vectors = [d.embedding for d in emb.data]
check("embeddings (base64, the client's default)", len(vectors) == 2 and all(len(v) == 384 for v in vectors), [len(v) for v in vectors])
check("embeddings are unit vectors", all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors))
cos = sum(a * b for a, b in zip(*vectors))
check("paraphrases are close", cos > 0.5, cos)
flt = client.embeddings.create(model="all-MiniLM-L6-v2", input="hello", encoding_format="float")
check("embeddings (float)", len(flt.data[0].embedding) == 384 and flt.usage.prompt_tokens > 0)

memory = {"mnemo": {"k": 2, "mode": "hybrid"}}
chat = client.chat.completions.create(
    model=chat_model, max_tokens=24, temperature=0,
    messages=[{"role": "user", "content": "When is the next boiler service due?"}], extra_body=memory)
answer = chat.choices[0].message.content or ""
check("chat (non-streaming)", chat.object == "chat.completion" and len(answer.strip()) > 0, repr(answer))
check("chat finish reason", chat.choices[0].finish_reason in ("stop", "length"), chat.choices[0].finish_reason)
check("chat usage", chat.usage.completion_tokens > 0 and chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens)
sources = (chat.model_extra or {}).get("mnemo", {}).get("sources", [])
check("chat memory sources", len(sources) >= 1 and "boiler" in sources[0]["text"].lower(), sources)

pieces, finish = [], None
stream = client.chat.completions.create(
    model=chat_model, max_tokens=16, temperature=0, stream=True, stream_options={"include_usage": True},
    messages=[{"role": "user", "content": "Say hello."}])
usage = None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        finish = choice.finish_reason or finish
check("chat (streaming)", len(pieces) >= 1 and len("".join(pieces).strip()) > 0, pieces)
check("stream finish reason and usage", finish in ("stop", "length") and usage is not None and usage.completion_tokens >= len(pieces), (finish, usage))

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    check("unknown model is 404", False, "no error")
except openai.NotFoundError as e:
    check("unknown model is 404", e.status_code == 404 and e.code == "model_not_found", e)

try:
    client.chat.completions.create(model=chat_model, messages=[{"role": "user", "content": "hi"}], max_tokens=0)
    check("bad parameter is 422", False, "no error")
except openai.UnprocessableEntityError as e:
    check("bad parameter is 422", e.status_code == 422 and e.param == "max_tokens", e)

if token != "no-token":
    import json
    import urllib.error
    import urllib.request
    try:
        urllib.request.urlopen(base_url + "/models", timeout=30)
        check("no key is 401", False, "no error")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        check("no key is 401", e.code == 401 and body["error"]["code"] == "invalid_api_key", body)
    with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/health", timeout=30) as r:
        check("/health needs no key", r.status == 200)
    wrong = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    try:
        wrong.models.list()
        check("wrong key is 401", False, "no error")
    except openai.AuthenticationError as e:
        check("wrong key is 401", e.status_code == 401, e)

print(f"openai client check: all {checks} checks ok", flush=True)
