#!/usr/bin/env python3
"""The shared store's figures (docs/SHARED-STORE.md), measured against real `mnemo serve` processes.

  bench_shared.py MNEMO DATABASE_URL WORK_DIR [--documents N] [--searches N] [--visibility N]

Run it through Tests/Scripts/bench-shared.sh, which starts a throwaway PostgreSQL first. It measures, in
one run on this host:
  1. ingest throughput through 1, 2 and 3 writing nodes (each node posting documents from its own client
     thread, every node on one database);
  2. commit-to-visible: after an add returns on node A, how long until a search on node B returns it
     (polled every 2 ms, no min_seq), p50 / p99 over --visibility adds;
  3. search latency p50 / p99 over HTTP through a PostgreSQL-backed node and through an embedded-store node
     holding the same documents, the same queries alternating between them.
Prints one JSON object.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import threading
import time
import urllib.request

WORDS = ("boiler service valve radiator garden hedge bicycle chain brake tyre oven recipe flour yeast loaf invoice "
         "payment plumber electrician key drawer shelf garage attic window paint ladder filter pump hose tomato basil "
         "compost fence gate lock alarm battery charger router printer").split()


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


class Node:
    def __init__(self, mnemo, store, work, name, replica=None):
        self.log = open(os.path.join(work, f"{name}.err"), "w")
        args = [mnemo, "serve", "--port", "0", "--store", store] + (["--replica", replica] if replica else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        path = self.log.name
        for _ in range(600):
            m = re.search(r"listening on http://127.0.0.1:(\d+)", open(path).read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited: {open(path).read()[-2000:]}")
            time.sleep(0.1)
        raise SystemExit(f"{name} did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def text(rng, i, tag):
    return " ".join(rng.choice(WORDS) for _ in range(40)) + f". Record {tag}{i}."


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mnemo")
    ap.add_argument("url")
    ap.add_argument("work")
    ap.add_argument("--documents", type=int, default=300, help="documents per ingest round")
    ap.add_argument("--searches", type=int, default=400)
    ap.add_argument("--visibility", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    base = a.url.rsplit("/", 1)[0]
    nodes = [Node(a.mnemo, a.url, a.work, f"node{i}", os.path.join(a.work, f"replica{i}")) for i in range(3)]
    out = {"host_cpu": subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip(),
           "cores": os.cpu_count()}
    try:
        # 1. Ingest through 1, 2, 3 writing nodes.
        ingest = {}
        for writers in (1, 2, 3):
            rng = random.Random(writers)
            per = a.documents // writers
            def write(n, node):
                for i in range(per):
                    post(node.port, "/v1/memory/documents", {"text": text(rng, i, f"w{writers}n{n}x"), "source": f"ingest/{writers}/{n}/{i}.txt"})
            threads = [threading.Thread(target=write, args=(n, nodes[n])) for n in range(writers)]
            t0 = time.time()
            for t in threads: t.start()
            for t in threads: t.join()
            dt = time.time() - t0
            ingest[str(writers)] = {"documents": per * writers, "seconds": round(dt, 2), "documents_per_second": round(per * writers / dt, 1)}
        out["ingest"] = ingest

        # 2. Commit-to-visible on another node.
        waits = []
        rng = random.Random(5)
        for i in range(a.visibility):
            nonce = f"zq{i}x{rng.randrange(10**9)}"
            post(nodes[0].port, "/v1/memory/documents", {"text": f"{text(rng, i, 'v')} {nonce}", "source": f"visible/{i}.txt"})
            t0 = time.time()
            while True:
                hits = post(nodes[1].port, "/v1/memory/search", {"query": nonce, "k": 1, "mode": "bm25"})["data"]
                if hits and hits[0]["source"] == f"visible/{i}.txt":
                    break
                if time.time() - t0 > 10:
                    raise SystemExit(f"add {i} not visible on node 1 after 10 s")
                time.sleep(0.002)
            waits.append(time.time() - t0)
        out["commit_to_visible_ms"] = {"n": len(waits), "p50": round(percentile(waits, 50) * 1000, 1),
                                       "p99": round(percentile(waits, 99) * 1000, 1), "max": round(max(waits) * 1000, 1)}

        # 3. Search latency: a PostgreSQL-backed node against an embedded store with the same documents.
        embedded_dir = os.path.join(a.work, "embedded")
        shutil.copytree(os.path.join(a.work, "replica2"), embedded_dir, ignore=shutil.ignore_patterns("store.lock"))
        # A copy of a replica is a plain store once its replica rows are gone.
        subprocess.run(["sqlite3", os.path.join(embedded_dir, "mnemo.sqlite"),
                        "DELETE FROM store_state WHERE key IN ('replica_of', 'replica_seq')"], check=True)
        embedded = Node(a.mnemo, embedded_dir, a.work, "embedded")
        try:
            rng = random.Random(9)
            lat = {"shared": [], "embedded": []}
            for i in range(a.searches):
                q = {"query": " ".join(rng.choice(WORDS) for _ in range(3)), "k": 5, "mode": rng.choice(["dense", "bm25", "hybrid"])}
                order = [("shared", nodes[2].port), ("embedded", embedded.port)]
                if i % 2: order.reverse()
                results = {}
                for name, port in order:
                    t0 = time.time()
                    results[name] = [h["chunk_id"] for h in post(port, "/v1/memory/search", q)["data"]]
                    lat[name].append(time.time() - t0)
                if results["shared"] != results["embedded"]:
                    raise SystemExit(f"different results for {q}: {results}")
            out["search_ms"] = {k: {"p50": round(statistics.median(v) * 1000, 2), "p99": round(percentile(v, 99) * 1000, 2)} for k, v in lat.items()}
            out["search_p50_ratio_shared_over_embedded"] = round(statistics.median(lat["shared"]) / statistics.median(lat["embedded"]), 3)
        finally:
            embedded.stop()
    finally:
        for n in nodes:
            n.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
