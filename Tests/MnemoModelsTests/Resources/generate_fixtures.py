#!/usr/bin/env python3
"""Generates encoder_fixtures.json (golden token ids and embeddings for all-MiniLM-L6-v2).

Reference data only; never run by the build or at run time. Run with the reference venv:
    Tests/Scripts/reference-venv.sh
    .venv-ref/bin/python Tests/MnemoModelsTests/Resources/generate_fixtures.py [MODEL_DIR]
MODEL_DIR defaults to $MNEMO_MODEL_DIR or ~/.local/share/mnemo/models/all-MiniLM-L6-v2.

Each case: the text; "ids" exactly as sentence-transformers feeds the model (model.tokenize([text]),
which adds [CLS]/[SEP] and truncates to max_seq_length = 256 tokens in all); "tokens", the same ids as
vocabulary strings (for reading failures); "embedding" = model.encode(text, normalize_embeddings=True),
384 floats rounded to 7 significant digits.
"""
import json
import os
import sys
import unicodedata

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "encoder_fixtures.json")
MODEL_DIR = (sys.argv[1] if len(sys.argv) > 1 else
             os.environ.get("MNEMO_MODEL_DIR",
                            os.path.expanduser("~/.local/share/mnemo/models/all-MiniLM-L6-v2")))

PAIR = ("The cat sits on the mat.", "A feline is resting on a rug.")

# Truncation: a varied paragraph repeated, so the 256-token cut falls mid-paragraph.
LONG = " ".join([
    "Sentence encoders map a piece of text to a single vector.",
    "Two texts with similar meanings should land close together, even when they share few words.",
    "The model reads at most 256 word pieces; everything after that is silently dropped.",
] * 12)

CASES = [
    # (note, text)
    ("pair a", PAIR[0]),
    ("pair b", PAIR[1]),
    ("reference ids", "Hello, world! Unbelievable."),
    ("plain", "Machine learning models convert sentences into dense vectors."),
    ("plain, apostrophe", "The weather in Paris is lovely in the spring, isn't it?"),
    ("plain", "She sells seashells by the seashore."),
    ("accents: NFD + drop Mn", "Café au lait, a naïve façade, Ångström units and Über-cool résumé."),
    ("german sharp s (ß and capital ẞ kept, not folded to ss)", "Die Straße ist groß und weiß. GROẞE STRASSE."),
    ("chinese: one token per ideograph, some [UNK]", "我爱北京天安门"),
    ("japanese + latin: kana are not split per char; dakuten stripped", "東京は日本の首都です。Tokyo is the capital of Japan."),
    ("mixed CJK/latin without spaces, fullwidth punctuation", "iPhone15は最高です！价格是999元。"),
    ("korean: NFD turns syllables into jamo", "한국어 텍스트"),
    ("emoji: a word containing an unknown char becomes one [UNK]", "I love 🍕 and 🚀🚀! 👍🏽 ❤️ love🍕pizza"),
    ("url + email", "Visit https://example.com/path?q=1&x=2 or mail john.doe@example.org"),
    ("surrounding whitespace", "   \t leading and trailing whitespace \n  "),
    ("inner whitespace, tabs, newlines", "inner\twhitespace\nand\r\nnewlines   here"),
    ("one character", "a"),
    ("numbers and currency", "Pi is 3.14, a million is 1,000,000 and lunch costs $5 (or €4.50)."),
    ("control and format chars are deleted (join words)",
     "bell\u0007 null\u0000 del\u007f zero\u200bwidth soft\u00adhyphen bom\ufeff nel\u0085x"),
    ("unicode spaces split words", "no\u00a0break\u2028line\u3000ideographic\u2003em"),
    ("greek + cyrillic", "Ελληνικά γράμματα και Кириллица: Москва, ёж, йогурт."),
    ("canonical singletons + lowercase per char (no final sigma)", "K Å Ω İstanbul ΣΑΣ"),
    ("rare symbols -> [UNK]", "Rare symbols: ☃ ⚙ ∮ 𝔘𝔫𝔦 ﬃ ㄅ ǅ"),
    ("arabic, hebrew, devanagari (virama is Mn and is dropped)", "مرحبا بالعالم שָׁלוֹם עולם नमस्ते दुनिया"),
    ("typographic punctuation", "O'Neill's “quoted” — dash – ‘x’ «y» ¿qué? wait... what?!"),
    ("decomposed input and stray combining marks", "e\u0301cole\u0301 \u0301leading hello\u0300\u0300\u0300"),
    ("special-token strings in the text are matched as special tokens (case-sensitive)",
     "[CLS] is not [cls]; x[SEP]y [MASK] [UNK]s"),
    ("word over 100 chars -> one [UNK]; exactly 100 is split", "long " + "ab" * 51 + " ok " + "a" * 100),
    ("code", "func add(a: Int, b: Int) -> Int { return a + b } // sum"),
    ("dates, phone, units", "2024-01-01T12:30:00Z, +1 (555) 123-4567, 50% off, 10km/h"),
    ("truncated to 256 tokens", LONG),
    ("empty string", ""),
]


def escape_invisible(json_text):
    """Writes control, format, separator and unassigned characters (other than ' ') as \\u escapes so the
    fixture file stays readable and survives editors; everything else stays as UTF-8."""
    out = []
    for ch in json_text:
        if ch != " " and unicodedata.category(ch)[0] in "CZ":
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
            else:
                out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def sig7(x):
    return float(f"{x:.7g}")


def main():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = SentenceTransformer(MODEL_DIR, device="cpu")
    model.eval()
    tok = model.tokenizer
    assert model.max_seq_length == 256, model.max_seq_length
    cases = []
    for note, text in CASES:
        ids = model.tokenize([text])["input_ids"][0].tolist()
        assert ids[0] == 101 and ids[-1] == 102 and len(ids) <= 256, (text, ids)
        emb = model.encode(text, normalize_embeddings=True, convert_to_numpy=True)
        assert emb.shape == (384,), emb.shape
        # Cross-check: embedding from the ids alone equals encode() (pooling over the mask, L2 norm).
        with torch.no_grad():
            t = torch.tensor([ids])
            out = model[0].auto_model(input_ids=t, attention_mask=torch.ones_like(t),
                                      token_type_ids=torch.zeros_like(t)).last_hidden_state[0]
            v = out.mean(0)
            v = (v / v.norm()).numpy()
        assert float(np.dot(v, emb)) > 0.99999, (text, float(np.dot(v, emb)))
        cases.append({
            "note": note,
            "text": text,
            "ids": ids,
            "tokens": tok.convert_ids_to_tokens(ids),
            "embedding": [sig7(x) for x in emb.tolist()],
        })
    hello = next(c for c in cases if c["text"] == "Hello, world! Unbelievable.")
    assert hello["ids"] == [101, 7592, 1010, 2088, 999, 23653, 1012, 102], hello["ids"]
    assert any(len(c["ids"]) == 256 for c in cases), "no case exercises truncation"
    a, b = model.encode(list(PAIR), normalize_embeddings=True, convert_to_numpy=True)
    cos = float(np.dot(a, b))
    assert abs(cos - 0.57349) < 5e-5, cos
    doc = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": 256,
        "dim": 384,
        "normalized": True,
        "generator": {
            "script": "Tests/MnemoModelsTests/Resources/generate_fixtures.py",
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
        },
        "pair_cosine": {"a": PAIR[0], "b": PAIR[1], "cosine": round(cos, 7)},
        "cases": cases,
    }
    text = escape_invisible(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    assert json.loads(text) == doc
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {OUT}: {len(cases)} cases, {os.path.getsize(OUT)} bytes, pair cosine {cos:.5f}")


if __name__ == "__main__":
    main()
