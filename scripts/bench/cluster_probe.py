#!/usr/bin/env python3
"""Helpers for scripts/bench/cluster.sh: read /status of several nodes, wait (bounded) for cluster
states, and time a failover. Standard library only.

  cluster_probe.py status URL...                        one JSON line per node (or an error)
  cluster_probe.py leader TIMEOUT_S URL...              waits for one leader all answering nodes agree on;
                                                        prints "INDEX NODE_ID HEIGHT" (INDEX into the URLs)
  cluster_probe.py wait-voters N TIMEOUT_S URL          waits until URL's /status lists N voters
  cluster_probe.py wait-sync TIMEOUT_S NODE_URL REF_URL... waits until NODE_URL's height equals the highest REF height
                                                        (taken again after each match, so load may run)
  cluster_probe.py failover PID TIMEOUT_S OUT.json BIN KEY,KEY,... TO SURVIVOR_URL...
        runs a client that starts a `BIN transfer --wait` against the first survivor about every
        20 ms (from whichever funded key has nothing outstanding), lets it commit for 1 s, kill -9s PID (a leader this bench started),
        and records: the time from the kill to the first increase of the committed index on any
        survivor ("commitResumedS"), and to the commit of the first transfer submitted after
        the kill ("clientCommitS"). Writes both to OUT.json.
  cluster_probe.py metric URL NAME                      value of a Prometheus metric without labels
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse


def get(url, path, timeout=1.0):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}{path}: HTTP {resp.status}")
        return body
    finally:
        conn.close()


def status(url, timeout=1.0):
    try:
        return json.loads(get(url, "/status", timeout))
    except Exception as e:  # a dead or busy node
        return {"error": str(e)}


def voters_of(st):
    v = st.get("voters")
    if isinstance(v, list):
        return len(v)
    if isinstance(v, int):
        return v
    return 0


def cmd_status(urls):
    for u in urls:
        print(json.dumps({"url": u, **{k: v for k, v in status(u).items() if k not in ("peers",)}}))


def find_leader(urls, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sts = [status(u) for u in urls]
        leaders = [i for i, s in enumerate(sts) if s.get("role") == "leader"]
        alive = [s for s in sts if "error" not in s]
        if len(leaders) == 1:
            lid = sts[leaders[0]].get("nodeId")
            lterm = sts[leaders[0]].get("term")
            if all(s.get("leader") == lid and s.get("term") == lterm for s in alive):
                return leaders[0], lid, sts[leaders[0]].get("height", 0)
        time.sleep(0.05)
    raise SystemExit(f"no agreed leader within {timeout_s}s: " + json.dumps([status(u) for u in urls])[:2000])


def cmd_leader(timeout_s, urls):
    i, lid, h = find_leader(urls, float(timeout_s))
    print(i, lid, h)


def cmd_wait_voters(n, timeout_s, url):
    deadline = time.monotonic() + float(timeout_s)
    st = {}
    while time.monotonic() < deadline:
        st = status(url)
        if voters_of(st) >= int(n) and st.get("leader"):
            return
        time.sleep(0.1)
    raise SystemExit(f"{url}: not {n} voters within {timeout_s}s: {json.dumps(st)[:1500]}")


def cmd_wait_sync(timeout_s, url, refs):
    deadline = time.monotonic() + float(timeout_s)
    st = {}
    watch = int(os.environ.get("WAIT_PID", "0"))
    while time.monotonic() < deadline:
        if watch:
            try:
                os.kill(watch, 0)
            except OSError:
                raise SystemExit(f"{url}: process {watch} died while syncing")
        st = status(url)
        ref = max((status(r).get("height", -1) for r in refs), default=-1)
        if "error" not in st and ref >= 0 and st.get("height") == ref and st.get("role") in ("leader", "follower", "learner"):
            return
        time.sleep(0.05)
    raise SystemExit(f"{url}: not in sync within {timeout_s}s: {json.dumps(st)[:1500]}")


def cmd_metric(url, name):
    text = get(url, "/metrics", 5).decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            print(line.split()[1])
            return
    raise SystemExit(f"{url}: no metric {name}")


def cmd_failover(pid, timeout_s, out, binary, keys, to, survivors):
    """Every ~20 ms a new `transfer --wait` starts against the first survivor, each from one of
    several funded keys that has nothing outstanding (so a transfer that hangs blocks nothing)."""
    pid, timeout_s, keys = int(pid), float(timeout_s), keys.split(",")
    stop = threading.Event()
    events = []  # (submitStart, end, ok, message)
    busy = {}  # key -> start of its outstanding transfer
    lock = threading.Lock()

    def one(key):
        t0 = time.monotonic()
        msg = ""
        try:
            r = subprocess.run([binary, "transfer", "--node", survivors[0], "--key", key, "--to", to, "--amount", "1", "--wait"],
                               capture_output=True, timeout=40)
            ok = r.returncode == 0 and b" committed" in r.stdout
            msg = (r.stdout + r.stderr).decode(errors="replace").strip()[-200:]
        except subprocess.TimeoutExpired:
            ok, msg = False, "client timeout 40 s"
        with lock:
            events.append((t0, time.monotonic(), ok, msg))
            busy.pop(key, None)

    def client():
        i = 0
        while not stop.is_set():
            with lock:
                free = [k for k in keys if k not in busy]
                key = free[i % len(free)] if free else None
                if key:
                    busy[key] = time.monotonic()
            if key:
                threading.Thread(target=one, args=(key,), daemon=True).start()
            i += 1
            time.sleep(0.02)

    th = threading.Thread(target=client, daemon=True)
    th.start()
    time.sleep(1.0)
    with lock:
        warm_ok = sum(1 for e in events if e[2])
    kill_t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    base = max(status(u, 0.5).get("commitIndex", -1) for u in survivors)
    resumed = None
    deadline = kill_t + timeout_s
    while time.monotonic() < deadline and resumed is None:
        for u in survivors:
            if status(u, 0.5).get("commitIndex", -1) > base:
                resumed = time.monotonic() - kill_t
                break
        else:
            time.sleep(0.005)
    # The client's view: the first transfer *started* after the kill that committed.
    client_s = None
    while time.monotonic() < deadline and client_s is None:
        with lock:
            done = [e for e in events if e[0] >= kill_t and e[2]]
        if done:
            client_s = min(e[1] for e in done) - kill_t
        else:
            time.sleep(0.01)
    stop.set()
    th.join(timeout=5)
    # Give the transfers in flight at the kill 3 s more; those still waiting then are "hung"
    # (a ?wait=commit answer is due once commits resume).
    end_wait = time.monotonic() + 3
    while time.monotonic() < end_wait:
        with lock:
            if not busy:
                break
        time.sleep(0.1)
    with lock:
        inflight = [e for e in events if e[0] < kill_t <= e[1]]
        failed_after = sum(1 for e in events if e[0] >= kill_t and not e[2])
        hung = [round(time.monotonic() - t, 2) for t in busy.values() if t < kill_t]
        slow = [{"startedBeforeKillS": round(kill_t - e[0], 3), "tookS": round(e[1] - e[0], 3), "ok": e[2], "message": e[3]}
                for e in events if e[1] - e[0] > 3]
    res = {"commitResumedS": resumed, "clientCommitS": client_s, "warmupCommits": warm_ok,
           "failedTransfersAfterKill": failed_after, "inFlightAtKill": len(inflight),
           "inFlightMaxS": max((e[1] - e[0] for e in inflight), default=0), "slowTransfers": slow[:5],
           "hungInFlight": len(hung), "hungForS": hung,
           "baseCommitIndex": base}
    json.dump(res, open(out, "w"))
    print(json.dumps(res))
    if resumed is None:
        raise SystemExit(f"no commit within {timeout_s}s after the kill")


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    cmd, rest = a[0], a[1:]
    if cmd == "status":
        cmd_status(rest)
    elif cmd == "leader":
        cmd_leader(rest[0], rest[1:])
    elif cmd == "wait-voters":
        cmd_wait_voters(rest[0], rest[1], rest[2])
    elif cmd == "wait-sync":
        cmd_wait_sync(rest[0], rest[1], rest[2:])
    elif cmd == "failover":
        cmd_failover(rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6:])
    elif cmd == "metric":
        cmd_metric(rest[0], rest[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
