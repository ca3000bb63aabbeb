#!/usr/bin/env python3
"""Checks of deploy/prometheus and deploy/grafana that need no cluster (and one that needs its
/metrics). Standard library only. Used by scripts/test-observability.sh.

  observability-check.py self-test
      the PromQL metric-name extraction on known expressions
  observability-check.py queries DASHBOARD.json ALERTS.yml
      every PromQL expression of the dashboard and the alert rules, one per line
      (Grafana's $__rate_interval as 1m), for running them against a real Prometheus
  observability-check.py names DASHBOARD.json ALERTS.yml METRICS.txt...
      every metric the dashboard or the rules query must be exported (a `# TYPE` line) by one of
      the /metrics texts given (a node's and the registry's); exit 1 naming the missing ones
  observability-check.py coverage ALERTS.yml TESTS.yml...
      every alert rule is expected to fire in some promtool test (an exp_alerts with entries)
  observability-check.py mutate ALERTS.yml NAME OUT.yml
      writes ALERTS.yml with the expression of alert NAME replaced by one that never fires
      (its tests must then fail: they can tell the rule from a broken one)
"""
import json
import re
import sys

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan", "atan2"}
# Series Prometheus itself makes; not exported by autochain.
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}


def metric_names(expr):
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (in matchers or grouping lists), durations or Grafana variables."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    e = re.sub(r"'(?:\\.|[^'\\])*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        token, rest = m.group(0), e[m.end():].lstrip()
        before = e[m.start() - 1] if m.start() > 0 else " "
        if before.isdigit() or before == ".":
            continue  # 1e3, 5m
        if rest.startswith("(") or token.lower() in KEYWORDS:
            continue
        names.add(token)
    return names


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    return out


def alert_exprs(path):
    """(alert name, expression) of a rules file as this repository writes it: `- alert: X`, then
    `expr: ...` on one line or as a `>-` block."""
    lines = open(path).read().split("\n")
    out, name, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- (?:alert|record): (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m and name:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in (">-", ">", "|", "|-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(b for b in block if b)))
                continue
            out.append((name, value))
        i += 1
    return out


def exported(metrics_texts):
    names = set()
    for path in metrics_texts:
        for line in open(path):
            m = re.match(r"# TYPE (\S+) (\S+)", line)
            if not m:
                continue
            name, kind = m.groups()
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def self_test():
    cases = {
        'max(rate(autochain_txs_committed_total{job="autochain-nodes"}[$__rate_interval]))': {"autochain_txs_committed_total"},
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[5m])))': {"a_bucket"},
        'max by (job) (h{job="n"}) - on (job) group_right h{job="n"} > 100': {"h"},
        'a / b < 0.10': {"a", "b"},
        '(max(l{job="n"}) or vector(0)) == 0': {"l"},
        'sum(x) by (kind) offset 5m': {"x"},
        'v > 0 and (v - d) < floor(v / 2) + 1e3': {"v", "d"},
        'count(ALERTS{alertstate="firing",alertname=~"A.*"}) or vector(0)': {"ALERTS"},
        'rate(c[1m:10s])': {"c"},
        "changes(s{a='b,c'}[15m]) >= 3": {"s"},
    }
    bad = [(e, got, want) for e, want in cases.items() if (got := metric_names(e)) != want]
    for e, got, want in bad:
        print(f"metric_names({e!r}) = {sorted(got)}, expected {sorted(want)}")
    return 1 if bad else 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "self-test":
        return self_test()
    if cmd == "queries":
        for _, expr in dashboard_exprs(argv[2]) + alert_exprs(argv[3]):
            print(expr.replace("$__rate_interval", "1m").replace("\n", " "))
        return 0
    if cmd == "names":
        have = exported(argv[4:]) | PROMETHEUS_OWN
        wanted = {}
        for where, expr in [(f"dashboard panel '{t}'", e) for t, e in dashboard_exprs(argv[2])] + \
                           [(f"alert {n}", e) for n, e in alert_exprs(argv[3])]:
            for name in metric_names(expr):
                wanted.setdefault(name, []).append(where)
        missing = {n: w for n, w in wanted.items() if n not in have}
        for n, w in sorted(missing.items()):
            print(f"not exported by the node or the registry: {n} (queried by {', '.join(sorted(set(w)))})")
        print(f"{len(wanted)} metric names queried, {len(wanted) - len(missing)} exported, {len(missing)} missing")
        return 1 if missing or not wanted else 0
    if cmd == "coverage":
        alerts = [n for n, _ in alert_exprs(argv[2])]
        text = "\n".join(open(p).read() for p in argv[3:])
        fired = set(re.findall(r"alertname: (\S+)\n\s+exp_alerts:\n\s+- ", text))
        untested = [a for a in alerts if a not in fired]
        for a in untested:
            print(f"alert {a} has no promtool test where it fires")
        print(f"{len(alerts)} alert rules, {len(alerts) - len(untested)} with a test where they fire")
        return 1 if untested or not alerts else 0
    if cmd == "mutate":
        path, target, out = argv[2], argv[3], argv[4]
        lines = open(path).read().split("\n")
        result, name, i, done = [], None, 0, False
        while i < len(lines):
            line = lines[i]
            m = re.match(r"\s*- alert: (\S+)", line)
            if m:
                name = m.group(1)
            m = re.match(r"(\s*)expr: (.*)$", line)
            if m and name == target and not done:
                indent = len(m.group(1))
                result.append(" " * indent + "expr: vector(1) == 0")
                i += 1
                if m.group(2).strip() in (">-", ">", "|", "|-"):
                    while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                        i += 1
                done = True
                continue
            result.append(line)
            i += 1
        if not done:
            print(f"no alert {target} in {path}")
            return 1
        open(out, "w").write("\n".join(result))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
