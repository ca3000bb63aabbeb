#!/usr/bin/env python3
"""Helpers for scripts/bench/healing.sh: watch a registry-run cluster heal after kill -9 and time it.
Standard library only; every wait is bounded; only processes that are children of the given
`autochain up` PID are ever signalled.

  healing_probe.py status REG_URL
        one line: leader, voters, learners, each node's state/role/height
  healing_probe.py wait-stable REG_URL VOTERS TIMEOUT_S [STABLE_S]
        waits until the cluster is at full voter strength (below), has no learners, no action in
        flight and only VOTERS nodes known to the registry, continuously for STABLE_S (default 2)
  healing_probe.py leader-url REG_URL TIMEOUT_S
        the API URL of the leader of a stable cluster
  healing_probe.py run MODE REG_URL UP_PID DATA_DIR VOTERS TIMEOUT_S OUT.json [BIN KEYS TO]
        one healing run. MODE is restart-follower | restart-leader | replace-follower |
        replace-leader | quorum-leader | quorum-followers:
          restart-*   kill -9 one voter (a follower or the leader)
          replace-*   delete that voter's data directory, then kill -9 it (it cannot be restarted)
          quorum-*    kill -9 two voters: the leader and a follower, or both followers; a client
                      (BIN transfer --wait from the funded KEYS, one key per transfer in flight)
                      starts a transfer every 50 ms against the voters' API URLs in turn
        Writes the timeline (seconds after the kill) to OUT.json.

Full voter strength (what "healed" means here): the leader's own /status lists VOTERS voters;
the registry reports every one of them alive; every voter's /status answers with role leader or
follower, the same term and leader, and a height at most LAG_BLOCKS (2) below the leader's.
For restart-* the killed ID must be one of the voters again; for replace-* it must be gone and
a new ID must be a voter in its place.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_probe  # noqa: E402  (its GET helper)

LAG_BLOCKS = 2
POLL_S = 0.05


def get_json(url, path, timeout=1.0):
    return json.loads(cluster_probe.get(url, path, timeout))


def try_json(url, path, timeout=1.0):
    try:
        return get_json(url, path, timeout)
    except Exception as e:  # a dead, starting or busy process
        return {"error": str(e)}


def registry_clock_offset(reg):
    """Local monotonic time minus the registry's uptime: event `at` + offset = local monotonic.
    Both use CLOCK_MONOTONIC, so the error is the request's round trip."""
    t0 = time.monotonic()
    st = get_json(reg, "/status", 2.0)
    t1 = time.monotonic()
    return (t0 + t1) / 2 - st["uptimeSeconds"]


def strength(reg_status, voters_wanted):
    """(ok, detail, snapshot): is the cluster at full voter strength right now?"""
    rs = reg_status
    if "error" in rs:
        return False, "registry: " + rs["error"][:80], {}
    nodes = {n["id"]: n for n in rs.get("nodes", [])}
    leader = rs.get("leader")
    if not leader or leader not in nodes:
        return False, "no leader known to the registry", {}
    lst = try_json(nodes[leader]["apiUrl"], "/status", 0.5)
    if lst.get("role") != "leader":
        return False, f"{leader} is not leading ({lst.get('role') or lst.get('error', '?')[:60]})", {}
    voters = lst.get("voters", [])
    snap = {"leader": leader, "term": lst.get("term"), "voters": voters, "learners": lst.get("learners", []),
            "leaderHeight": lst.get("height"), "heights": {}}
    if len(voters) != voters_wanted:
        return False, f"leader's configuration has {len(voters)} voters", snap
    for v in voters:
        n = nodes.get(v)
        if n is None or n.get("state") != "alive":
            return False, f"voter {v} is {n.get('state') if n else 'unknown'} in the registry", snap
        st = lst if v == leader else try_json(n["apiUrl"], "/status", 0.5)
        snap["heights"][v] = st.get("height")
        if "error" in st:
            return False, f"voter {v} does not answer", snap
        if st.get("role") not in ("leader", "follower") or st.get("leader") != leader or st.get("term") != lst.get("term"):
            return False, f"voter {v}: role {st.get('role')}, leader {st.get('leader')}, term {st.get('term')}", snap
        if st.get("height", -1) + LAG_BLOCKS < lst.get("height", 0):
            return False, f"voter {v} at height {st.get('height')}, leader at {lst.get('height')}", snap
    return True, "full strength", snap


def cmd_status(reg):
    rs = try_json(reg, "/status", 2.0)
    if "error" in rs:
        print(rs["error"])
        return
    nodes = ", ".join(f"{n['id']} {n['state']} {n['role']} h{n['height']}" for n in rs.get("nodes", []))
    print(f"leader {rs.get('leader')} voters {rs.get('voters')} learners {rs.get('learners')} "
          f"inFlight {rs.get('inFlight')} nodes: {nodes}")


def stable_now(reg, voters_wanted):
    rs = try_json(reg, "/status", 1.0)
    ok, why, snap = strength(rs, voters_wanted)
    if not ok:
        return False, why
    if snap["learners"]:
        return False, f"learners {snap['learners']}"
    if rs.get("inFlight"):
        return False, f"in flight: {rs['inFlight']}"
    if len(rs.get("nodes", [])) != voters_wanted:
        return False, f"registry knows {len(rs['nodes'])} nodes"
    heights = set(snap["heights"].values())
    if len(heights) != 1:
        return False, f"heights differ: {snap['heights']}"
    return True, "stable"


def cmd_wait_stable(reg, voters_wanted, timeout_s, stable_s=2.0):
    deadline = time.monotonic() + timeout_s
    since, why = None, ""
    while time.monotonic() < deadline:
        ok, why = stable_now(reg, voters_wanted)
        now = time.monotonic()
        if ok:
            since = since or now
            if now - since >= stable_s:
                return
        else:
            since = None
        time.sleep(0.1)
    cmd_status(reg)
    raise SystemExit(f"cluster not stable within {timeout_s} s: {why}")


def cmd_leader_url(reg, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rs = try_json(reg, "/status", 1.0)
        ok, _, snap = strength(rs, len(rs.get("voters", [])) or 1) if "error" not in rs else (False, "", {})
        if ok:
            print(next(n["apiUrl"] for n in rs["nodes"] if n["id"] == snap["leader"]))
            return
        time.sleep(0.1)
    raise SystemExit(f"no leader within {timeout_s} s")


def child_pids(up_pid):
    """node ID -> PID of every `autochain node` process whose parent is `up_pid` (ours)."""
    found = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            if int(stat[1]) != up_pid:
                continue
            args = open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "--node-id" in args and len(args) > 1 and args[1] == "node":
            found[args[args.index("--node-id") + 1]] = int(p)
    return found


class Client:
    """Starts `BIN transfer --wait` every 50 ms against the URLs in turn, from a key with nothing
    outstanding; records (start, end, ok) of each."""

    def __init__(self, binary, keys, to, urls):
        self.binary, self.keys, self.to, self.urls = binary, keys, to, urls
        self.events, self.busy = [], set()
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def one(self, key, url):
        t0 = time.monotonic()
        try:
            r = subprocess.run([self.binary, "transfer", "--node", url, "--key", key, "--to", self.to, "--amount", "1",
                                "--wait"], capture_output=True, timeout=15)
            ok = r.returncode == 0 and b" committed" in r.stdout
        except subprocess.TimeoutExpired:
            ok = False
        with self.lock:
            self.events.append((t0, time.monotonic(), ok))
            self.busy.discard(key)

    def loop(self):
        i = 0
        while not self.stop.is_set():
            with self.lock:
                free = [k for k in self.keys if k not in self.busy]
                key = free[i % len(free)] if free else None
                if key:
                    self.busy.add(key)
            if key:
                threading.Thread(target=self.one, args=(key, self.urls[i % len(self.urls)]), daemon=True).start()
            i += 1
            time.sleep(0.05)

    def first_commit_after(self, t):
        with self.lock:
            done = [e[1] for e in self.events if e[0] >= t and e[2]]
        return min(done) if done else None


def pick_victims(mode, leader, voters):
    followers = sorted(v for v in voters if v != leader)
    if mode.endswith("-leader") and not mode.startswith("quorum"):
        return [leader]
    if mode in ("restart-follower", "replace-follower"):
        return [followers[0]]
    if mode == "quorum-leader":
        return [leader, followers[0]]
    if mode == "quorum-followers":
        return followers[:2]
    raise SystemExit(f"unknown mode {mode}")


def cmd_run(mode, reg, up_pid, data_dir, voters_wanted, timeout_s, out, binary=None, keys=None, to=None):
    rs = get_json(reg, "/status", 2.0)
    ok, why, snap = strength(rs, voters_wanted)
    if not ok:
        raise SystemExit(f"not at full strength before the run: {why}")
    leader, voters = snap["leader"], snap["voters"]
    urls = [n["apiUrl"] for n in rs["nodes"] if n["id"] in voters]
    victims = pick_victims(mode, leader, voters)
    pids = child_pids(up_pid)
    missing = [v for v in victims if v not in pids]
    if missing:
        raise SystemExit(f"no process of ours for {missing} (children of {up_pid}: {pids})")
    offset = registry_clock_offset(reg)
    seq0 = max((e["seq"] for e in get_json(reg, "/events", 2.0)["events"]), default=0)
    client = None
    if mode.startswith("quorum"):
        client = Client(binary, keys.split(","), to, urls)
        client.thread.start()
        time.sleep(1.0)  # the client is committing before the kill
    if mode.startswith("replace"):
        for v in victims:  # first the data, then the process: the registry must not restart it
            shutil.rmtree(os.path.join(data_dir, v))
    t_kill = time.monotonic()
    for v in victims:
        os.kill(pids[v], signal.SIGKILL)
    res = {"mode": mode, "victims": victims, "leaderBefore": leader, "votersBefore": voters,
           "leaderHeightBefore": snap["leaderHeight"], "loadavg": open("/proc/loadavg").read().split()[:3]}
    marks = {}  # name -> seconds after the kill, first time seen

    def mark(name, t=None):
        if name not in marks:
            marks[name] = round((t if t is not None else time.monotonic()) - t_kill, 3)

    deadline = t_kill + timeout_s
    last_why = ""
    while time.monotonic() < deadline:
        now = time.monotonic()
        rs = try_json(reg, "/status", 1.0)
        if "error" not in rs:
            states = {n["id"]: n["state"] for n in rs.get("nodes", [])}
            if all(states.get(v) == "dead" for v in victims):
                mark("registrySawDead", now)
            if "registrySawDead" in marks and mode.startswith(("restart", "quorum")) \
                    and all(states.get(v) == "alive" for v in victims):
                mark("victimsAliveAgain", now)
        if client and "firstCommit" not in marks:
            c = client.first_commit_after(t_kill)
            if c is not None:
                mark("firstCommit", c)
                client.stop.set()
        ok, last_why, snap = strength(rs, voters_wanted)
        if ok and mode.startswith("replace"):
            ok = not set(victims) & set(snap["voters"])
            last_why = last_why if ok else "the dead voter is still in the configuration"
        elif ok:
            ok = set(victims) <= set(snap["voters"])
        if ok and (not client or "firstCommit" in marks):
            mark("fullStrength", now)
            res["after"] = snap
            break
        time.sleep(POLL_S)
    if client:
        client.stop.set()
    try:
        events = [e for e in get_json(reg, "/events", 2.0)["events"] if e["seq"] > seq0]
    except Exception:
        events = []
    res["events"] = [{"s": round(e["at"] + offset - t_kill, 3), "kind": e["kind"], "node": e.get("node"),
                      "message": e["message"][:200]} for e in events]
    for e in res["events"]:
        mark("event_" + e["kind"], t_kill + e["s"])
    res["marks"] = dict(sorted(marks.items(), key=lambda kv: kv[1]))
    res["fullStrengthS"] = marks.get("fullStrength")
    res["firstCommitS"] = marks.get("firstCommit")
    if client:
        with client.lock:
            res["clientTransfers"] = {"ok": sum(1 for e in client.events if e[2]),
                                      "failed": sum(1 for e in client.events if not e[2])}
    if "fullStrength" not in marks:
        res["failed"] = f"not at full strength within {timeout_s} s: {last_why}"
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps({k: res.get(k) for k in ("mode", "victims", "fullStrengthS", "firstCommitS", "failed")}))


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    cmd, rest = a[0], a[1:]
    if cmd == "status":
        cmd_status(rest[0])
    elif cmd == "wait-stable":
        cmd_wait_stable(rest[0], int(rest[1]), float(rest[2]), float(rest[3]) if len(rest) > 3 else 2.0)
    elif cmd == "leader-url":
        cmd_leader_url(rest[0], float(rest[1]))
    elif cmd == "run":
        cmd_run(rest[0], rest[1], int(rest[2]), rest[3], int(rest[4]), float(rest[5]), rest[6], *rest[7:10])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
