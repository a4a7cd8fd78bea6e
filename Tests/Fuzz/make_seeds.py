#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into Tests/Fuzz/<target>/seed-*.

The fuzzer grows its corpus from these; Tests/Scripts/fuzz.sh merges what it found back into the
same directories, and `make test` replays all of it. Standard library only.
"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- GGUF: a whole (tiny) Llama with a byte-level BPE vocabulary, loadable by DecoderModel ----
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def gguf(arch="llama", quant=8, extra=True):
    kv, tensors = [], []

    def s(x):
        b = x.encode(); return struct.pack("<Q", len(b)) + b

    def meta(key, typ, payload):
        kv.append(s(key) + struct.pack("<I", typ) + payload)

    def arr(key, typ, items, enc):
        meta(key, 9, struct.pack("<IQ", typ, len(items)) + b"".join(enc(i) for i in items))

    dim, ffn, heads, kv_heads, vocab_extra = 32, 64, 2, 1, ["<|im_start|>", "<|im_end|>", "Ġt", "he"]
    tokens = bytes_to_unicode() + vocab_extra
    vocab = len(tokens)
    meta("general.architecture", 8, s(arch))
    meta("general.alignment", 4, struct.pack("<I", 32))
    for k, v in [("block_count", 1), ("embedding_length", dim), ("feed_forward_length", ffn), ("attention.head_count", heads),
                 ("attention.head_count_kv", kv_heads), ("context_length", 64)]:
        meta(f"{arch}.{k}", 4, struct.pack("<I", v))
    meta(f"{arch}.rope.freq_base", 6, struct.pack("<f", 10000.0))
    meta(f"{arch}.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-6))
    meta("tokenizer.ggml.model", 8, s("gpt2"))
    meta("tokenizer.ggml.pre", 8, s("qwen2" if arch == "qwen2" else "gpt2"))
    arr("tokenizer.ggml.tokens", 8, tokens, s)
    arr("tokenizer.ggml.token_type", 5, [1] * 256 + [3, 3, 1, 1], lambda t: struct.pack("<i", t))
    arr("tokenizer.ggml.merges", 8, ["Ġ t", "h e"], s)
    meta("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 256))
    meta("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 257))
    meta("tokenizer.ggml.add_bos_token", 7, b"\x01")
    if extra:  # every other value type once
        meta("x.u8", 0, b"\x07"); meta("x.i8", 1, b"\xf9"); meta("x.u16", 2, struct.pack("<H", 7)); meta("x.i16", 3, struct.pack("<h", -7))
        meta("x.i32", 5, struct.pack("<i", -7)); meta("x.u64", 10, struct.pack("<Q", 7)); meta("x.i64", 11, struct.pack("<q", -7))
        meta("x.f64", 12, struct.pack("<d", 0.5)); arr("x.nested", 9, [], lambda _: b"")

    def q8(rows, cols):  # Q8_0 blocks: f16 scale + 32 int8
        return b"".join(struct.pack("<e", 0.01) + bytes((i * 7 + r) % 256 for i in range(32)) for r in range(rows) for _ in range(cols // 32))

    def f32(n, v=1.0):
        return struct.pack(f"<{n}f", *([v] * n))

    qd, kvd = dim, dim // heads * kv_heads
    mat_type = 8 if quant == 8 else 0
    def mat(rows, cols):
        return q8(rows, cols) if quant == 8 else f32(rows * cols, 0.01)
    tensors += [("token_embd.weight", [dim, vocab], mat_type, mat(vocab, dim)), ("output_norm.weight", [dim], 0, f32(dim))]
    p = "blk.0."
    tensors += [(p + "attn_norm.weight", [dim], 0, f32(dim)), (p + "ffn_norm.weight", [dim], 0, f32(dim)),
                (p + "attn_q.weight", [dim, qd], mat_type, mat(qd, dim)), (p + "attn_k.weight", [dim, kvd], mat_type, mat(kvd, dim)),
                (p + "attn_v.weight", [dim, kvd], mat_type, mat(kvd, dim)), (p + "attn_output.weight", [qd, dim], mat_type, mat(dim, qd)),
                (p + "ffn_gate.weight", [dim, ffn], mat_type, mat(ffn, dim)), (p + "ffn_up.weight", [dim, ffn], mat_type, mat(ffn, dim)),
                (p + "ffn_down.weight", [ffn, dim], mat_type, mat(dim, ffn))]
    if arch == "qwen2":
        tensors.append((p + "attn_q.bias", [qd], 0, f32(qd, 0.0)))
    infos, blob = [], b""
    for name, shape, typ, data in tensors:
        while len(blob) % 32: blob += b"\0"
        infos.append(s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<IQ", typ, len(blob)))
        blob += data
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + b"".join(infos)
    while len(head) % 32: head += b"\0"
    return head + blob


put("gguf", "llama-q8", gguf("llama", 8))
put("gguf", "qwen2-q8", gguf("qwen2", 8, extra=False))
put("gguf", "header-only", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))

# ---- safetensors ----
def safetensors(entries, meta=None):
    header, blob = {}, b""
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob

put("safetensors", "f32-f16", safetensors([("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "F16", [3], struct.pack("<3e", 1, -2, 0.5))],
                                          {"format": "pt"}))
put("safetensors", "bf16-scalar", safetensors([("c", "BF16", [], b"\x80\x3f"), ("d", "I64", [1], struct.pack("<q", 5))]))

# ---- text inputs ----
put("wordpiece", "mixed", "Hello, World! Unbelievable 1,234.5 — naïve café 中文字 [SEP] [MASK]x \t\u200b\x00end")
put("wordpiece", "long-word", "a" * 150 + " " + "the" * 40)
put("bpe", "mixed", "Hello wörld! I'm we'LL they've 12345 <|im_start|>user\nhi<|im_end|>\n\n  spaces\t\ttabs 🙂 中文")
put("bpe", "code", "func f(x: Int) -> Int { return x * 2 }  // ünïcödé\r\n")
put("html", "page", "<!DOCTYPE html><html><head><title>T &amp; t</title><style>p{}</style><script>var a='<p>';</script></head>"
    "<body><h1>Head</h1><p>One &lt;two&gt; &#x41;&#66; &nbsp;&copy; <br/>line</p><pre>  keep\n  lines</pre><!-- c -->"
    "<table><tr><td>a</td><td>b</td></tr></table><textarea>x</textarea><ul><li>i</li></ul></body></html>")
put("html", "broken", "<p>unclosed <b>bold <i>it</p></div>&unknown; &#xZZ; &#99999999; <scr<script>ipt>x</script")
put("jsonl", "records", '{"text": "first", "source": "a"}\n{"text": "second", "n": 2}\n\n{"text": ""}\nnot json\n{"text": 5}\n{"text":"é\\u00e9\\ud83d\\ude42"}\n')
put("jsonl", "bad-utf8", b'{"text": "ok"}\n{"text": "\xff\xfe"}\n{"text": "after"}\n')
for i, e in enumerate(["1/3 + 2/3", "2^64 - 1", "sqrt(2) * 3.5e-3", "(1+2)*(3-4)/5 % 7", "-(-(-1))", "10!", "1e100000",
                       "1/0", "abs(-3) + min(1,2) + max(3,4)", "12.5% of 80", "((((((1))))))"]):
    put("calculator", f"expr-{i}", e)
for i, q in enumerate(["SELECT * FROM customers", "SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
                       "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n) SELECT x FROM n LIMIT 5",
                       "SELECT * FROM big_orders WHERE note LIKE '%e%'", "DELETE FROM orders", "ATTACH 'x.db' AS x",
                       "PRAGMA writable_schema=1", "SELECT load_extension('x')", "SELECT 1; DROP TABLE customers",
                       "SELECT name FROM sqlite_master", "SELECT replace(hex(zeroblob(1000)), '0', 'ab')"]):
    put("sql", f"query-{i}", q)
bodies = [(0, {"model": "mnemo", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "stop": ["x"],
               "mnemo": {"k": 3, "mode": "hybrid", "where": {"a": "b"}}}),
          (0, {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}], "max_tokens": 1.5}),
          (1, {"model": "all-MiniLM-L6-v2", "input": ["a", "b"], "encoding_format": "base64"}),
          (2, {"text": "note", "source": "s", "namespace": "n", "metadata": {"k": "v"}}),
          (3, {"query": "q", "k": 5, "mode": "bm25", "where": {"x": "y"}})]
for i, (kind, body) in enumerate(bodies):
    put("http-body", f"body-{i}", bytes([kind]) + json.dumps(body).encode())
put("http-body", "not-json", b"\x03{\"query\": ")
for i, m in enumerate([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-03-26", "capabilities": {}}},
                       {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "memory_search", "arguments": {"query": "x"}}},
                       {"jsonrpc": "2.0", "method": "notifications/initialized"}, [{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}],
                       {"jsonrpc": "2.0", "id": 3, "result": {}}, {"jsonrpc": "1.0", "id": [1], "method": 5}]):
    put("jsonrpc", f"message-{i}", json.dumps(m))
put("jsonrpc", "not-json", "{\"jsonrpc\": \"2.0\", ")
