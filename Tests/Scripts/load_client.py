"""A bounded load on a loopback `mnemo serve`: concurrent memory searches and adds for a fixed time.

Usage: load_client.py BASE_URL [--seconds 60] [--searchers 6] [--adders 2] [--token T]
Each worker keeps one HTTP/1.1 connection and sends requests back to back until the time is up, so
the load stops by itself. Only loopback addresses are accepted. Prints a Markdown table (requests,
errors, throughput, p50/p99/max latency per operation) and exits 1 if any request failed.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("base_url")
parser.add_argument("--seconds", type=float, default=60)
parser.add_argument("--searchers", type=int, default=6)
parser.add_argument("--adders", type=int, default=2)
parser.add_argument("--token")
args = parser.parse_args()

url = urllib.parse.urlparse(args.base_url)
if url.hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"refusing to load {url.hostname}: loopback only")

QUERIES = [
    "when was the boiler serviced", "how long does the lentil soup simmer", "who fixed the heating",
    "what should I pack for the trip", "where is the spare key", "garden watering schedule",
    "recipe with tomatoes and stock", "meeting notes about the budget", "insurance renewal date",
]
WORDS = ("river stone garden lantern copper meadow violin harbor pepper window thunder candle orchard silver "
         "puzzle marble rocket basket forest ladder kettle pillow saddle tunnel anchor blanket compass feather").split()
MODES = ["hybrid", "dense", "bm25"]

deadline = time.monotonic() + args.seconds
lock = threading.Lock()
results = {"search": [], "add": []}
errors = {"search": 0, "add": 0}
first_errors = []


def worker(kind, index):
    rng = random.Random(index)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    latencies, failed, n = [], 0, 0
    while time.monotonic() < deadline:
        n += 1
        if kind == "search":
            path = "/v1/memory/search"
            body = {"query": rng.choice(QUERIES), "k": 5, "mode": MODES[n % 3]}
        else:
            path = "/v1/memory/documents"
            text = " ".join(rng.choice(WORDS) for _ in range(60)) + "."
            body = {"text": text, "source": f"load/{index}/{n}", "namespace": "load"}
        start = time.perf_counter()
        try:
            conn.request("POST", path, json.dumps(body), headers)
            response = conn.getresponse()
            payload = response.read()
            ok = 200 <= response.status < 300
            if not ok and len(first_errors) < 5:
                first_errors.append(f"{kind}: {response.status} {payload[:200]!r}")
        except Exception as e:  # a dropped connection counts as an error, then reconnect
            ok = False
            if len(first_errors) < 5:
                first_errors.append(f"{kind}: {e!r}")
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        elapsed = time.perf_counter() - start
        if ok:
            latencies.append(elapsed)
        else:
            failed += 1
    conn.close()
    with lock:
        results[kind] += latencies
        errors[kind] += failed


threads = [threading.Thread(target=worker, args=("search", i)) for i in range(args.searchers)]
threads += [threading.Thread(target=worker, args=("add", 1000 + i)) for i in range(args.adders)]
began = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.monotonic() - began


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


print(f"\n{args.searchers} searchers + {args.adders} adders, {wall:.1f} s, {url.hostname}:{url.port}\n")
print("| operation | requests | errors | req/s | p50 ms | p99 ms | max ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
rows = [("search", results["search"], errors["search"]), ("add", results["add"], errors["add"]),
        ("all", results["search"] + results["add"], errors["search"] + errors["add"])]
for name, values, failed in rows:
    print(f"| {name} | {len(values) + failed} | {failed} | {len(values) / wall:.1f} | {pct(values, 50) * 1000:.1f} | "
          f"{pct(values, 99) * 1000:.1f} | {max(values, default=float('nan')) * 1000:.1f} |")
for e in first_errors:
    print("error:", e)
sys.exit(1 if errors["search"] + errors["add"] else 0)
