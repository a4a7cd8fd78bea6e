#!/usr/bin/env python3
"""F1 against context tokens, one point per context mode, from `mnemo eval qa --json` output.

    mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json -k 3 --limit 100 --json > qa.json
    (the printed table, without --json, is read as well)
    python3 Tests/Scripts/plot-qa.py qa.json docs/qa-f1-vs-context-tokens.png

Standard library only (zlib + a 5x7 bitmap font): the machines this runs on have no plotting package.
"""
import json
import struct
import sys
import zlib

FONT = {  # 5x7 glyphs, one string of 5 bits per row; lower case is drawn as upper case
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    "+": "00000 00100 00100 11111 00100 00100 00000", "-": "00000 00000 00000 11111 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100", ",": "00000 00000 00000 00000 01100 00100 01000",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000", "=": "00000 00000 11111 00000 11111 00000 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000", " ": "00000 00000 00000 00000 00000 00000 00000",
}

W, H = 900, 600
LEFT, RIGHT, TOP, BOTTOM = 90, 40, 60, 80


class Canvas:
    def __init__(self):
        self.px = bytearray(b"\xff" * (W * H * 3))

    def dot(self, x, y, rgb):
        if 0 <= x < W and 0 <= y < H:
            i = (y * W + x) * 3
            self.px[i:i + 3] = bytes(rgb)

    def rect(self, x0, y0, x1, y1, rgb):
        for y in range(y0, y1):
            for x in range(x0, x1):
                self.dot(x, y, rgb)

    def text(self, x, y, s, rgb=(0, 0, 0), scale=2):
        for ch in s:
            rows = FONT.get(ch.upper(), FONT[" "]).split()
            for r, bits in enumerate(rows):
                for c, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, rgb)
            x += 6 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * W * 3:(y + 1) * W * 3]) for y in range(H))
        def chunk(tag, data):
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def load(src):
    """`mnemo eval qa --json` output, or its printed table (the first line names the model)."""
    text = open(src).read()
    if text.lstrip().startswith("{"):
        report = json.loads(text)
        return report.get("model", ""), [(r["context_tokens"], r["f1"], r["context"]) for r in report["results"]]
    lines = text.splitlines()
    model = next((l.split(",")[0] for l in lines if l.endswith("retrieval")), "")
    points = []
    for l in lines:
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] not in ("context", "---"):
            points.append((float(cells[6]), float(cells[3]), cells[0]))
    return model, points


def main(src, out):
    model, points = load(src)
    xmax = max(p[0] for p in points) * 1.1 or 1
    ymax = max(0.1, max(p[1] for p in points) * 1.2)
    cv = Canvas()
    x0, y0, x1, y1 = LEFT, H - BOTTOM, W - RIGHT, TOP
    sx = lambda v: int(x0 + (x1 - x0) * v / xmax)
    sy = lambda v: int(y0 - (y0 - y1) * v / ymax)
    grey, black = (200, 200, 200), (0, 0, 0)
    for i in range(6):  # grid and tick labels
        yv, xv = ymax * i / 5, xmax * i / 5
        cv.rect(x0, sy(yv), x1, sy(yv) + 1, grey)
        cv.rect(sx(xv), y1, sx(xv) + 1, y0, grey)
        cv.text(x0 - 60, sy(yv) - 7, f"{yv:.2f}")
        cv.text(sx(xv) - 15, y0 + 12, f"{xv:.0f}")
    cv.rect(x0, y0, x1, y0 + 2, black)
    cv.rect(x0, y1, x0 + 2, y0, black)
    cv.text(x0, 15, f"F1 against context tokens  ({model.removesuffix('.gguf')}, k = 3)", scale=2)
    cv.text((x0 + x1) // 2 - 120, H - 35, "context tokens per question")
    cv.text(8, y1 - 30, "F1")
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75), (23, 190, 207)]
    # Markers first; a label that would overlap a marker or an earlier label moves up a line at a time.
    placed = []
    for i, (x, y, name) in enumerate(points):
        cv.rect(sx(x) - 6, sy(y) - 6, sx(x) + 6, sy(y) + 6, colours[i % len(colours)])
        placed.append((sx(x) - 7, sy(y) - 7, sx(x) + 7, sy(y) + 7))
    for i, (x, y, name) in enumerate(points):
        c = colours[i % len(colours)]
        label = f"{name} {y:.2f}"
        width = 12 * len(label)
        lx = sx(x) + 10 if sx(x) < x1 - width else sx(x) - 10 - width
        ly = sy(y) - 7
        while any(lx < bx1 and bx0 < lx + width and ly < by1 and by0 < ly + 16 for bx0, by0, bx1, by1 in placed):
            ly -= 18
        placed.append((lx, ly, lx + width, ly + 16))
        cv.text(lx, ly, label, c)
    cv.png(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot-qa.py EVAL_QA.json OUT.png")
    main(sys.argv[1], sys.argv[2])
