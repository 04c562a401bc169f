/**
 * The /ui dashboard: one self-contained page drawing Chart.js charts from GET /ui/data, refreshed every
 * few seconds. With keys on, it asks for the master key once (a real form, so password managers fill it)
 * and keeps it in the browser's localStorage; a key the server refuses is forgotten and asked for again.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Inferline: spend and performance</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { padding: 12px 20px; background: #1d2330; color: #fff; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #status { font-size: 13px; opacity: .8; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px; }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  section h2 { font-size: 14px; margin: 0 0 8px; font-weight: 600; }
  .figures { display: flex; gap: 24px; font-size: 13px; margin-bottom: 8px; }
  .figures b { display: block; font-size: 20px; }
  canvas { width: 100% !important; height: 240px !important; }
  #login { display: none; padding: 16px; }
</style>
</head>
<body>
<header><h1>Inferline</h1><span id="status">loading…</span></header>
<form id="login" autocomplete="on"><input type="text" name="username" value="inferline-master" autocomplete="username" hidden><label>Master key: <input id="key" name="password" type="password" size="40" autocomplete="current-password"></label> <button id="save" type="submit">Show</button></form>
<main>
  <section><h2>Spend per day, by model</h2><canvas id="spendOverTime"></canvas></section>
  <section><h2>Spend by model</h2><canvas id="spendByModel"></canvas></section>
  <section><h2>Spend by key</h2><canvas id="spendByKey"></canvas></section>
  <section><h2>Spend by team</h2><canvas id="spendByTeam"></canvas></section>
  <section><h2>Spend by end user</h2><canvas id="spendByUser"></canvas></section>
  <section><h2>Evaluation scores (mean per hour, by model group)</h2><canvas id="scores"></canvas></section>
  <section><h2>Latency and time to first token (s)</h2><canvas id="latency"></canvas></section>
  <section><h2>Caches</h2><div class="figures"><span>prefix cache: requests with a hit<b id="hitRate">–</b></span><span>prompt tokens cached<b id="tokenShare">–</b></span><span>response cache: requests answered<b id="responseHitRate">–</b></span><span>money saved by the response cache<b id="savedUsd">–</b></span></div><canvas id="cache"></canvas></section>
  <section><h2>Engine now</h2><div class="figures"><span>running<b id="running">–</b></span><span>waiting<b id="waiting">–</b></span><span>KV cache<b id="kv">–</b></span></div><canvas id="engine"></canvas></section>
</main>
<script src="/ui/chart.umd.min.js"></script>
<script>
"use strict";
Chart.defaults.animation = false;
const palette = ["#3b6fd8", "#e0883a", "#3aa776", "#c94f6d", "#8a63c9", "#5a9fb5", "#b59a3a", "#6b7280"];
const charts = {};
const draw = (id, config) => {
  if (charts[id]) { charts[id].data = config.data; charts[id].update(); return; }
  charts[id] = new Chart(document.getElementById(id), { ...config, options: { responsive: true, maintainAspectRatio: false, ...(config.options || {}) } });
};
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
const engineHistory = { labels: [], running: [], waiting: [], kv: [] };

/** What the numbers cover: the range asked for, or less when the ledger starts later. */
function coverage(l) {
  if (!l.first_request_at) return "in the last " + l.days + " days";
  const first = new Date(l.first_request_at);
  return Date.now() - first.getTime() < (l.days - 1) * 86400000 ? "since " + first.toLocaleString() : "in the last " + l.days + " days";
}

function render(d) {
  const l = d.ledger;
  if (l) {
    const days = [...new Set(l.spend_by_day.map((r) => r.day))];
    const models = [...new Set(l.spend_by_day.map((r) => r.model))];
    // A line needs several days to be a line: fewer are drawn as bars (one day would be a lone dot).
    draw("spendOverTime", { type: days.length < 3 ? "bar" : "line", data: { labels: days, datasets: models.map((m, i) => ({
      label: m, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      data: days.map((day) => (l.spend_by_day.find((r) => r.day === day && r.model === m) || { spend: 0 }).spend) })) },
      options: { scales: { y: { beginAtZero: true } } } });
    draw("spendByModel", { type: "bar", data: { labels: l.spend_by_model.map((r) => r.model), datasets: [{ label: "spend", backgroundColor: palette[0], data: l.spend_by_model.map((r) => r.spend) }] } });
    draw("spendByKey", { type: "bar", data: { labels: l.spend_by_key.map((r) => r.name), datasets: [{ label: "spend", backgroundColor: palette[1], data: l.spend_by_key.map((r) => r.spend) }] } });
    draw("spendByTeam", { type: "bar", data: { labels: l.spend_by_team.map((r) => r.name), datasets: [{ label: "spend", backgroundColor: palette[6], data: l.spend_by_team.map((r) => r.spend) }] } });
    draw("latency", { type: "bar", data: { labels: ["p50", "p90", "p99"], datasets: [
      { label: "request latency", backgroundColor: palette[2], data: [l.latency_seconds.p50, l.latency_seconds.p90, l.latency_seconds.p99] },
      { label: "time to first token", backgroundColor: palette[3], data: [l.ttft_seconds.p50, l.ttft_seconds.p90, l.ttft_seconds.p99] }] } });
    const hit = l.prefix_hit_rate ?? 0;
    document.getElementById("hitRate").textContent = pct(l.prefix_hit_rate);
    document.getElementById("tokenShare").textContent = pct(l.cached_token_share);
    document.getElementById("responseHitRate").textContent = pct(l.response_cache_hit_rate);
    document.getElementById("savedUsd").textContent = "$" + (l.response_cache_saved_usd ?? 0).toFixed(4);
    draw("spendByUser", { type: "bar", data: { labels: l.spend_by_user.map((r) => r.user), datasets: [{ label: "spend", backgroundColor: palette[5], data: l.spend_by_user.map((r) => r.spend) }] } });
    draw("cache", { type: "doughnut", data: { labels: ["prefix cache hit", "miss"], datasets: [{ backgroundColor: [palette[2], "#d5d9e0"], data: [hit, 1 - hit] }] } });
  }
  if (d.evaluations) {
    const hours = [...new Set(d.evaluations.map((r) => r.hour))];
    const series = [...new Set(d.evaluations.map((r) => r.model_group + " · " + r.evaluator))];
    draw("scores", { type: "line", data: { labels: hours.map((h) => new Date(h).toLocaleString()), datasets: series.map((name, i) => ({
      label: name, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      data: hours.map((h) => { const r = d.evaluations.find((x) => x.hour === h && x.model_group + " · " + x.evaluator === name); return r ? r.mean : null; }) })) },
      options: { spanGaps: true, scales: { y: { min: 0, max: 1 } } } });
  }
  if (d.engine) {
    const e = d.engine;
    document.getElementById("running").textContent = e.running;
    document.getElementById("waiting").textContent = e.waiting;
    document.getElementById("kv").textContent = pct(e.kv_cache_usage);
    const h = engineHistory;
    h.labels.push(new Date().toLocaleTimeString()); h.running.push(e.running); h.waiting.push(e.waiting); h.kv.push(100 * e.kv_cache_usage);
    if (h.labels.length > 60) for (const k of Object.keys(h)) h[k].shift();
    draw("engine", { type: "line", data: { labels: [...h.labels], datasets: [
      { label: "running", borderColor: palette[0], data: [...h.running] },
      { label: "waiting", borderColor: palette[1], data: [...h.waiting] },
      { label: "KV cache %", borderColor: palette[4], data: [...h.kv] }] },
      options: { scales: { y: { beginAtZero: true, suggestedMax: 4 } } } });
  }
  document.getElementById("status").textContent = (l ? l.requests + " requests " + coverage(l) : "no ledger") + (d.engine ? " · model " + d.engine.model : "") + " · updated " + new Date().toLocaleTimeString();
  document.body.dataset.rendered = "true";
}

async function refresh() {
  const key = localStorage.getItem("inferline_master_key");
  const r = await fetch("/ui/data", { headers: key ? { authorization: "Bearer " + key } : {} });
  if (r.status === 401 || r.status === 403) {
    if (key) localStorage.removeItem("inferline_master_key");
    document.getElementById("login").style.display = "block"; document.getElementById("status").textContent = key ? "the stored master key was refused" : "master key needed"; return;
  }
  render(await r.json());
}
document.getElementById("login").onsubmit = (event) => { event.preventDefault(); localStorage.setItem("inferline_master_key", document.getElementById("key").value); document.getElementById("login").style.display = "none"; refresh(); };
refresh().catch((e) => (document.getElementById("status").textContent = String(e)));
setInterval(() => refresh().catch(() => {}), 3000);
</script>
</body>
</html>
`
