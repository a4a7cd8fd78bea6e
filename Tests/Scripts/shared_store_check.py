#!/usr/bin/env python3
"""Checks of the shared store across real `mnemo serve` processes (SharedStoreCLITests runs them).

  load WRITER_PORT READER_PORT... --documents N --seconds S
      One thread adds N documents through the writer node (and deletes every 10th one again) while one
      thread per reader node searches for S seconds, each search with `min_seq` = the newest change the
      writer had made when it started. Fails on any HTTP error, on a hit whose chunk no add returned
      (uncommitted), and on a hit whose chunk was deleted at or before the search's `min_seq`.

  compare DATABASE_URL REPLICA_DIR... --within SECONDS
      Waits until every replica's (chunk id, content hash) set equals the database's, or fails after
      SECONDS. With --complete DIR, also checks that every document in the database has every chunk an
      embedded store (DIR) made from the same files has: no partial document.

Standard library only; psql reads the database, sqlite3 the replicas.
"""
import argparse
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def delete(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="DELETE")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


WORDS = ("boiler service valve radiator garden hedge bicycle chain brake tyre oven recipe flour yeast loaf invoice "
         "payment plumber electrician key drawer shelf garage attic window paint ladder filter pump hose tomato basil "
         "compost fence gate lock alarm battery charger router printer").split()


def load(args):
    rng = random.Random(42)
    lock = threading.Lock()
    committed = {}      # chunk id -> seq of its add
    deleted = {}        # chunk id -> seq of its delete
    newest = [0]
    errors = []
    stop = threading.Event()
    searches = [0]
    unknown = []

    def writer():
        try:
            for i in range(args.documents):
                text = " ".join(rng.choice(WORDS) for _ in range(12)) + f". Entry {i} of the shared log."
                added = post(args.writer, "/v1/memory/documents", {"text": text, "source": f"load/{i}.txt"})
                with lock:
                    for cid in added["chunk_ids"]:
                        committed[cid] = added["seq"]
                    newest[0] = max(newest[0], added["seq"])
                if i % 10 == 9:
                    gone = delete(args.writer, f"/v1/memory/documents?source=load/{i}.txt")
                    with lock:
                        for cid in added["chunk_ids"]:
                            deleted[cid] = gone["seq"]
                        newest[0] = max(newest[0], gone["seq"])
        except Exception as e:  # noqa: BLE001 - every failure is reported
            errors.append(f"writer: {e}")

    def reader(port):
        deadline = time.time() + args.seconds
        r = random.Random(port)
        while time.time() < deadline and not stop.is_set():
            with lock:
                min_seq = newest[0]
            query = " ".join(r.choice(WORDS) for _ in range(3))
            try:
                hits = post(port, "/v1/memory/search", {"query": query, "k": 5, "mode": r.choice(["dense", "bm25", "hybrid"]),
                                                        "min_seq": min_seq})["data"]
            except Exception as e:  # noqa: BLE001
                errors.append(f"reader {port}: {e}")
                continue
            with lock:
                searches[0] += 1
                for h in hits:
                    cid = h["chunk_id"]
                    if not h["source"].startswith("load/"):
                        continue
                    if cid not in committed:
                        # An add may have committed but not yet returned to the writer: judged at the end.
                        unknown.append((port, cid, h["source"]))
                    elif cid in deleted and deleted[cid] <= min_seq:
                        errors.append(f"reader {port}: chunk {cid} deleted at change {deleted[cid]} returned by a search with min_seq {min_seq}")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(p,)) for p in args.readers]
    start = time.time()
    for t in threads:
        t.start()
    threads[0].join()
    write_seconds = time.time() - start
    for t in threads[1:]:
        t.join()
    # A hit on a chunk no add ever returned is a chunk that was never committed.
    errors += [f"reader {port}: chunk {cid} ({source}) was never returned by an add" for port, cid, source in unknown if cid not in committed]
    print(json.dumps({"documents": args.documents, "chunks_added": len(committed), "chunks_deleted": len(deleted),
                      "searches": searches[0], "seconds": round(time.time() - start, 1),
                      "write_seconds": round(write_seconds, 1), "errors": errors[:20], "error_count": len(errors)}))
    return 0 if not errors and searches[0] > 0 else 1


def database_set(url):
    out = subprocess.run(["psql", url, "-tAc", "SELECT id, content_hash FROM mnemo_chunks"], check=True,
                         capture_output=True, text=True).stdout
    return {(int(a), b) for a, b in (line.split("|") for line in out.split())}


def replica_set(directory):
    db = sqlite3.connect(f"file:{directory}/mnemo.sqlite?mode=ro", uri=True, timeout=10)
    try:
        return set(db.execute("SELECT id, content_hash FROM chunks").fetchall())
    finally:
        db.close()


def compare(args):
    if args.complete:
        ref = sqlite3.connect(f"file:{args.complete}/mnemo.sqlite?mode=ro", uri=True)
        want = {}
        for source, h in ref.execute("SELECT d.source, c.content_hash FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.ordinal"):
            want.setdefault(source, []).append(h)
        out = subprocess.run(["psql", args.url, "-tAc",
                              "SELECT d.source, string_agg(c.content_hash, ',' ORDER BY c.ordinal) FROM mnemo_documents d "
                              "LEFT JOIN mnemo_chunks c ON c.document_id = d.id GROUP BY d.source"],
                             check=True, capture_output=True, text=True).stdout
        partial = [s for s, hs in (line.split("|", 1) for line in out.splitlines() if line) if want.get(s) != hs.split(",")]
        if partial:
            print(json.dumps({"partial_documents": partial[:10], "count": len(partial)}))
            return 1
    deadline = time.time() + args.within
    start = time.time()
    while True:
        expected = database_set(args.url)
        differing = [d for d in args.replicas if replica_set(d) != expected]
        if not differing:
            print(json.dumps({"chunks": len(expected), "replicas": len(args.replicas), "agreed_after_seconds": round(time.time() - start, 2)}))
            return 0
        if time.time() > deadline:
            print(json.dumps({"chunks": len(expected), "differing": differing}))
            return 1
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    l = sub.add_parser("load")
    l.add_argument("writer", type=int)
    l.add_argument("readers", type=int, nargs="+")
    l.add_argument("--documents", type=int, default=1000)
    l.add_argument("--seconds", type=float, default=60)
    c = sub.add_parser("compare")
    c.add_argument("url")
    c.add_argument("replicas", nargs="+")
    c.add_argument("--within", type=float, default=5)
    c.add_argument("--complete")
    args = p.parse_args()
    sys.exit(load(args) if args.command == "load" else compare(args))


if __name__ == "__main__":
    main()
