/// `GET /`: one self-contained page (no external assets) that polls `/status` and `/events`
/// every second: topology, leader, heights, health, and the scaling events over time.
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
  svg { width:100%; height:120px; background:var(--card); border-radius:8px; }
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
    <h2 style="margin-top:24px">Nodes alive over time</h2>
    <svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
  </section>
  <section>
    <h2>Scaling events</h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
const history = [];
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
    history.push(st.nodes.filter(n => n.state === 'alive').length);
    if (history.length > 120) history.shift();
    const max = Math.max(3, ...history);
    const pts = history.map((v, i) => `${(i / 119) * 600},${120 - (v / max) * 110}`).join(' ');
    document.getElementById('chart').innerHTML = `<polyline fill="none" stroke="#3fb950" stroke-width="2" points="${pts}"/>`;
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
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
"""#
}
