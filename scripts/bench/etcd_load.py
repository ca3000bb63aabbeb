#!/usr/bin/env python3
"""etcd load for scripts/bench/etcd.sh, through etcd's HTTP/JSON gRPC gateway. Standard library only.

  etcd_load.py throughput URL THREADS SECONDS OUT.json
      THREADS threads, one keep-alive connection each, single-key puts (a distinct key per put,
      a 64-byte value) for SECONDS; writes/s and latency percentiles.
  etcd_load.py failover PID TIMEOUT_S SURVIVOR_URL OUT.json
      puts every ~20 ms against the survivor (0.5 s timeout each, several may be outstanding),
      kill -9s PID (an etcd member this bench started), and records the time from the kill to
      the first successful put started after it.
"""
import base64
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

VALUE = base64.b64encode(b"v" * 64).decode()


def body(key):
    return json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": VALUE})


def conn_for(url, timeout):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def put(conn, key):
    conn.request("POST", "/v3/kv/put", body=body(key), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200 or b"header" not in data:
        raise RuntimeError(f"HTTP {r.status}: {data[:200]!r}")


def throughput(url, threads, seconds, out):
    threads, seconds = int(threads), float(seconds)
    lat = [[] for _ in range(threads)]
    errors = [0] * threads
    start = time.monotonic() + 0.5
    stop_at = start + seconds

    def worker(i):
        c = conn_for(url, 10)
        n = 0
        while time.monotonic() < start:
            time.sleep(0.001)
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                break
            try:
                put(c, f"/bench/{i}/{n}")
                lat[i].append(time.monotonic() - t0)
            except Exception:
                errors[i] += 1
                c.close()
                c = conn_for(url, 10)
            n += 1
        c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    allv = sorted(x for l in lat for x in l)
    pct = lambda p: allv[min(len(allv) - 1, int(len(allv) * p))] * 1000 if allv else 0
    res = {"writes": len(allv), "errors": sum(errors), "seconds": seconds, "threads": threads,
           "writesPerSecond": len(allv) / seconds, "latencyMs": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}}
    json.dump(res, open(out, "w"))
    print(json.dumps(res))


def failover(pid, timeout_s, url, out):
    pid, timeout_s = int(pid), float(timeout_s)
    events = []
    lock = threading.Lock()
    stop = threading.Event()

    def one(k):
        t0 = time.monotonic()
        c = conn_for(url, 0.5)
        ok = True
        try:
            put(c, f"/failover/{k}")
        except Exception:
            ok = False
        finally:
            c.close()
        with lock:
            events.append((t0, time.monotonic(), ok))

    def client():
        k = 0
        while not stop.is_set():
            threading.Thread(target=one, args=(k,), daemon=True).start()
            k += 1
            time.sleep(0.02)

    th = threading.Thread(target=client, daemon=True)
    th.start()
    time.sleep(1.0)
    kill_t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    first = None
    while time.monotonic() < kill_t + timeout_s and first is None:
        with lock:
            done = [e for e in events if e[0] >= kill_t and e[2]]
        if done:
            first = min(e[1] for e in done) - kill_t
        else:
            time.sleep(0.005)
    stop.set()
    th.join(timeout=2)
    time.sleep(0.6)
    with lock:
        failed = sum(1 for e in events if e[0] >= kill_t and not e[2])
    res = {"firstPutS": first, "failedPutsAfterKill": failed}
    json.dump(res, open(out, "w"))
    print(json.dumps(res))
    if first is None:
        raise SystemExit(f"no successful put within {timeout_s}s after the kill")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "throughput":
        throughput(*a[1:5])
    elif a and a[0] == "failover":
        failover(*a[1:5])
    else:
        raise SystemExit(__doc__)
