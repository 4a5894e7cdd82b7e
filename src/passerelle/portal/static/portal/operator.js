// The operator page's live charts: polls the samples URL, keeps the last 10 minutes,
// draws them with uPlot (served by the hub). No inline script: settings come from data-*.
(function () {
  "use strict";
  var root = document.getElementById("move-charts");
  if (!root || typeof uPlot === "undefined") { return; }
  var url = root.getAttribute("data-samples");
  var every = parseInt(root.getAttribute("data-every-ms"), 10) || 2000;
  var keep = Math.ceil(600000 / every);
  var t = [], mbps = [], ops = [], p95 = [], idle = [];
  var last = null;
  function width(el) { return Math.max(320, el.clientWidth || 600); }
  var thrEl = document.getElementById("chart-throughput");
  var latEl = document.getElementById("chart-latency");
  var thr = new uPlot({
    width: width(thrEl), height: 220,
    series: [{}, { label: "MB/s", stroke: "#0b5cad", width: 2 },
             { label: "objects/s", stroke: "#a15c00", width: 2, scale: "ops" }],
    axes: [{}, { label: "MB/s" }, { label: "objects/s", side: 1, scale: "ops", grid: { show: false } }],
    scales: { x: { time: true } }
  }, [t, mbps, ops], thrEl);
  var lat = new uPlot({
    width: width(latEl), height: 220,
    series: [{}, { label: "p95 now (s)", stroke: "#a1120a", width: 2 },
             { label: "p95 before the move (s)", stroke: "#4a5560", width: 1, dash: [6, 4] }],
    axes: [{}, { label: "seconds" }],
    scales: { x: { time: true } }
  }, [t, p95, idle], latEl);
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function push(s) {
    var rate = 0;
    if (last && s.at > last.at) { rate = Math.max(0, (s.objects_done - last.objects_done) / (s.at - last.at)); }
    t.push(s.at); mbps.push(s.throughput_bytes_per_s / 1e6); ops.push(rate);
    p95.push(s.research_p95_s); idle.push(s.idle_p95_s);
    if (t.length > keep) { t.shift(); mbps.shift(); ops.shift(); p95.shift(); idle.shift(); }
    thr.setData([t, mbps, ops]); lat.setData([t, p95, idle]);
    text("phase", s.phase);
    text("progress", s.objects_done + " / " + s.objects_total + " objects, " + s.bytes_done + " / " + s.bytes_total + " bytes");
    text("debts", String(s.open_debts));
    text("failed", String(s.failed));
    text("eta", s.eta_seconds === null ? "unknown" : Math.round(s.eta_seconds) + " s");
    last = s;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(push)
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, every); });
  }
  poll();
})();
