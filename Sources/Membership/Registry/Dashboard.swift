/// `GET /`: one self-contained page (no external assets) that polls `/status` and `/events`
/// every second (topology, leader, heights, health, the scaling events) and `/series` every few
/// seconds: plots of the last hour drawn as inline SVG by the page's own script (committed
/// transfers/s, heights, submit-to-commit p99, load against the target, nodes by role), with the
/// registry's decisions as marks on the same time axis.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>autochain registry</title>
<style>
  :root { --bg:#0f1419; --card:#1a2129; --fg:#e6e6e6; --mute:#8a96a3; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --lead:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { padding:16px 24px; border-bottom:1px solid #263040; display:flex; gap:24px; align-items:baseline; flex-wrap:wrap; }
  h1 { font-size:18px; margin:0; }
  .stat { color:var(--mute); } .stat b { color:var(--fg); }
  main { padding:16px 24px; display:grid; grid-template-columns: 2fr 1fr; gap:24px; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
  h2 { font-size:14px; text-transform:uppercase; letter-spacing:.06em; color:var(--mute); margin:0 0 12px; }
  #nodes { display:grid; grid-template-columns: repeat(auto-fill, minmax(190px,1fr)); gap:12px; }
  .node { background:var(--card); border-radius:8px; padding:12px; border-left:4px solid var(--mute); }
  .node.alive { border-color:var(--ok); } .node.suspect { border-color:var(--warn); } .node.dead { border-color:var(--bad); opacity:.7; }
  .node.leader { box-shadow: 0 0 0 1px var(--lead) inset; }
  .node .id { font-weight:600; font-size:15px; } .node .role { float:right; font-size:12px; color:var(--lead); }
  .node .meta { color:var(--mute); font-size:12px; margin-top:6px; }
  .bar { height:6px; background:#263040; border-radius:3px; margin-top:8px; overflow:hidden; }
  .bar > div { height:100%; background:var(--lead); }
  #events { list-style:none; padding:0; margin:0; max-height:70vh; overflow:auto; }
  #events li { padding:6px 0; border-bottom:1px solid #263040; font-size:13px; }
  #events .k { display:inline-block; min-width:110px; font-weight:600; }
  .k.restart, .k.spawn { color:var(--ok); } .k.retire, .k.remove_member { color:var(--warn); }
  .k.node_exited, .k.consensus_failure, .k.action_failed { color:var(--bad); } .k[class*="alert"] { color:var(--bad); }
  #events .t { color:var(--mute); font-size:12px; margin-right:6px; }
  .plot { margin-top:14px; }
  .plot h3 { font-size:12px; color:var(--mute); margin:0 0 4px; font-weight:600; }
  .plot h3 .legend { font-weight:400; margin-left:8px; }
  .plot h3 .legend i { display:inline-block; width:10px; height:3px; margin:0 4px 2px 8px; vertical-align:middle; }
  .plot svg { width:100%; height:110px; background:var(--card); border-radius:8px; display:block; }
  .plot svg text { fill:var(--mute); font-size:10px; }
  .mark { stroke-width:1; stroke-dasharray:3 2; }
  .mark.spawn { stroke:var(--ok); } .mark.retire, .mark.remove_member { stroke:var(--warn); }
  .mark.restart { stroke:var(--lead); } .mark.transfer_leadership { stroke:#a371f7; } .mark[class*="alert"] { stroke:var(--bad); }
</style>
</head>
<body>
<header>
  <h1>autochain registry</h1>
  <span class="stat">leader <b id="leader">–</b></span>
  <span class="stat">quorum <b id="quorum">–</b></span>
  <span class="stat">voters <b id="voters">–</b></span>
  <span class="stat">learners <b id="learners">–</b></span>
  <span class="stat">committed height <b id="commit">–</b></span>
  <span class="stat">provider <b id="provider">–</b></span>
</header>
<main>
  <section>
    <h2>Topology</h2>
    <div id="nodes"></div>
    <h2 style="margin-top:24px">The last hour <span class="stat" id="span"></span></h2>
    <div id="plots"></div>
  </section>
  <section>
    <h2>Scaling events</h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
let lastSeq = 0;
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function tick() {
  try {
    const st = await (await fetch('/status')).json();
    document.getElementById('leader').textContent = st.leader || 'none';
    document.getElementById('quorum').textContent = st.quorum;
    document.getElementById('voters').textContent = (st.voters || []).join(', ') || '–';
    document.getElementById('learners').textContent = (st.learners || []).join(', ') || '–';
    document.getElementById('commit').textContent = st.commitIndex;
    document.getElementById('provider').textContent = st.provider;
    const top = Math.max(1, ...st.nodes.map(n => n.height));
    document.getElementById('nodes').innerHTML = st.nodes.map(n => `
      <div class="node ${esc(n.state)} ${n.role === 'leader' ? 'leader' : ''}" data-node="${esc(n.id)}">
        <span class="role">${esc(n.role)}${n.voter ? ' · voter' : ''}</span>
        <div class="id">${esc(n.id)}</div>
        <div class="meta">${esc(n.state)} · height ${n.height} · term ${n.term}</div>
        <div class="meta">${esc(n.apiUrl)}</div>
        <div class="bar"><div style="width:${Math.round(100 * n.height / top)}%"></div></div>
      </div>`).join('');
    const ev = await (await fetch('/events?since=' + lastSeq)).json();
    const list = document.getElementById('events');
    for (const e of ev.events) {
      lastSeq = Math.max(lastSeq, e.seq);
      const li = document.createElement('li');
      li.innerHTML = `<span class="t">+${e.at.toFixed(1)}s</span><span class="k ${esc(e.kind)}">${esc(e.kind)}</span> ${esc(e.message)}`;
      list.prepend(li);
    }
  } catch (err) { document.getElementById('quorum').textContent = 'registry unreachable'; }
}
// Plots from GET /series: one SVG per series on a shared time axis, decisions as vertical marks.
const W = 600, H = 110, PAD = 4;
const palette = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#a371f7', '#39c5cf', '#ff7b72', '#e3b341'];
function plot(id, title, lines, at, t0, t1, marks, bands) {
  const ys = lines.flatMap(l => l.flat !== undefined ? [l.flat] : l.values).concat((bands || []).flatMap(b => [b.lo, b.hi])).filter(v => v !== null && isFinite(v));
  const top = Math.max(1e-9, ...ys) * 1.1, bottom = Math.min(0, ...ys);
  const x = t => PAD + (W - 2 * PAD) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
  const y = v => H - PAD - (H - 2 * PAD) * (v - bottom) / (top - bottom);
  let svg = '';
  for (const b of bands || []) {
    svg += `<rect class="band" x="0" width="${W}" y="${y(b.hi)}" height="${Math.max(0, y(b.lo) - y(b.hi))}" fill="${b.color}" opacity="0.15"/>`;
  }
  lines.forEach((l, i) => {
    const color = l.color || palette[i % palette.length];
    const pts = [];
    (l.values || []).forEach((v, k) => { if (v !== null && isFinite(v) && at[k] >= t0) pts.push(`${x(at[k]).toFixed(1)},${y(v).toFixed(1)}`); });
    if (l.flat !== undefined) {
      svg += `<line class="limit" x1="0" x2="${W}" y1="${y(l.flat)}" y2="${y(l.flat)}" stroke="${color}" stroke-dasharray="6 4"/>`;
    } else {
      svg += `<polyline class="series" data-series="${esc(l.name)}" data-points="${pts.length}" fill="none" stroke="${color}" stroke-width="1.6" ` +
             `${l.dash ? 'stroke-dasharray="5 3"' : ''} points="${pts.join(' ')}"/>`;
    }
  });
  for (const m of marks) {
    if (m.at < t0) continue;
    svg += `<line class="mark ${esc(m.kind)}" data-kind="${esc(m.kind)}" x1="${x(m.at)}" x2="${x(m.at)}" y1="0" y2="${H}"><title>${esc(m.kind)} ${esc(m.node || '')}: ${esc(m.reason)}</title></line>`;
  }
  svg += `<text x="${W - PAD}" y="11" text-anchor="end">${+(top / 1.1).toPrecision(3)}</text>`;
  svg += `<text x="${PAD}" y="${H - PAD}">−${Math.round((t1 - t0) / 60)} min</text><text x="${W - PAD}" y="${H - PAD}" text-anchor="end">now</text>`;
  const legend = lines.map((l, i) => `<i style="background:${l.color || palette[i % palette.length]}"></i>${esc(l.name)}`).join('');
  return `<div class="plot" id="${id}"><h3>${esc(title)}<span class="legend">${legend}</span></h3>` +
         `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">${svg}</svg></div>`;
}
async function drawSeries() {
  try {
    const s = await (await fetch('/series')).json();
    const t1 = s.now, t0 = Math.max(s.at.length ? s.at[0] : t1, t1 - s.intervalS * s.points);
    const marks = s.decisions;
    const mins = ((t1 - t0) / 60).toFixed(0);
    document.getElementById('span').textContent = `(${s.at.length} samples over ${mins} min, one per ${s.intervalS} s)`;
    const heights = Object.keys(s.heights).map(id => ({ name: id, values: s.heights[id] }));
    const L = s.load, N = s.nodes;
    document.getElementById('plots').innerHTML = [
      plot('plot-tps', 'Committed transfers / s', [{ name: 'tx/s', values: s.committedTxsPerS, color: '#3fb950' }], s.at, t0, t1, marks),
      plot('plot-heights', 'Height per node', heights, s.at, t0, t1, marks),
      plot('plot-latency', 'Submit-to-commit p99 (ms, slowest node)', [{ name: 'p99 ms', values: s.submitP99Ms, color: '#d29922' }], s.at, t0, t1, marks),
      plot('plot-load', `Load (${L.metric}, average per node) against the target`,
           [{ name: 'load', values: L.values, color: '#58a6ff' }, { name: `target ${L.target}`, flat: L.target, color: '#3fb950' }],
           s.at, t0, t1, marks, [{ lo: L.target * (1 - L.tolerance), hi: L.target * (1 + L.tolerance), color: '#3fb950' }]),
      plot('plot-nodes', 'Nodes by role (dashed: the autoscaler\'s target; limits min/max)',
           [{ name: 'voters', values: N.voters, color: '#58a6ff' }, { name: 'learners', values: N.learners, color: '#a371f7' },
            { name: 'alive', values: N.alive, color: '#3fb950' }, { name: 'target', values: N.desired, color: '#d29922', dash: true },
            { name: `min ${N.min}`, flat: N.min, color: '#8a96a3' }, { name: `max ${N.max}`, flat: N.max, color: '#f85149' }],
           s.at, t0, t1, marks),
    ].join('');
  } catch (err) { document.getElementById('span').textContent = '(series unavailable: ' + err + ')'; }
}
tick();
drawSeries();
setInterval(tick, 1000);
setInterval(drawSeries, 5000);
</script>
</body>
</html>
"""#
}
