/**
 * Monitor (`/dashboard/monitor`): graphs over the last hour, 24 hours or 7 days
 * from the status store's metric buckets (`GET monitor`), drawn as small
 * hand-made SVG line and bar charts (no library, nothing from a CDN).
 */
export const viewMonitor = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el;
  var SVG = 'http://www.w3.org/2000/svg', W = 420, H = 140, PAD = 52;
  var range = '1h', charts, totals, stages;
  function svg(tag, attrs) { var node = document.createElementNS(SVG, tag); Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); }); return node; }
  function text(x, y, value, anchor) { var t = svg('text', { x: x, y: y, 'font-size': 10, fill: '#666', 'text-anchor': anchor || 'start' }); t.textContent = value; return t; }
  function short(n) { return n >= 1e9 ? (n / 1e9).toFixed(1) + 'G' : n >= 1e6 ? (n / 1e6).toFixed(1) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n * 100) / 100); }
  /** A line chart of several series over the same points; null values leave a gap. */
  function lineChart(id, title, points, series, unit) {
    var box = el('div', null, 'chart'); box.id = id; box.appendChild(el('h3', title));
    var max = 0;
    series.forEach(function (s) { points.forEach(function (p) { var v = p[s.key]; if (v !== null && v > max) max = v; }); });
    max = max > 0 ? max * 1.1 : 1;
    var graph = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title });
    graph.appendChild(svg('line', { x1: PAD, y1: H - 15, x2: W, y2: H - 15, stroke: '#ccc' }));
    graph.appendChild(svg('line', { x1: PAD, y1: 5, x2: PAD, y2: H - 15, stroke: '#ccc' }));
    graph.appendChild(text(PAD - 3, 12, short(max) + (unit || ''), 'end')); graph.appendChild(text(PAD - 3, H - 15, '0', 'end'));
    if (points.length > 0) {
      graph.appendChild(text(PAD, H - 2, new Date(points[0].at).toLocaleString()));
      graph.appendChild(text(W, H - 2, new Date(points[points.length - 1].at).toLocaleString(), 'end'));
    }
    var step = points.length > 1 ? (W - PAD) / (points.length - 1) : 0;
    series.forEach(function (s) {
      var d = '', pen = false, drawn = 0;
      points.forEach(function (p, i) {
        var v = p[s.key];
        if (v === null || v === undefined) { pen = false; return; }
        var x = PAD + i * step, y = (H - 15) - (v / max) * (H - 25);
        d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1) + ' '; pen = true; drawn += 1;
      });
      if (drawn > 0) graph.appendChild(svg('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'data-series': s.key }));
    });
    box.appendChild(graph);
    var legend = el('div', null, 'legend');
    series.forEach(function (s) { var span = el('span'); var i = el('i'); i.style.background = s.color; span.appendChild(i); span.appendChild(document.createTextNode(s.label)); legend.appendChild(span); });
    box.appendChild(legend);
    return box;
  }
  /** Horizontal bars: mean time per stage. */
  function stageChart(list) {
    var box = el('div', null, 'chart'); box.id = 'chart-stages'; box.appendChild(el('h3', 'Time per stage (mean per job, total)'));
    var max = list.reduce(function (m, s) { return Math.max(m, s.mean_ms); }, 0) || 1;
    var graph = svg('svg', { viewBox: '0 0 ' + W + ' ' + Math.max(H, list.length * 18 + 10), role: 'img', 'aria-label': 'time per stage' });
    list.forEach(function (s, i) {
      var y = 5 + i * 18;
      graph.appendChild(text(60, y + 11, s.stage, 'end'));
      graph.appendChild(svg('rect', { x: 65, y: y, width: Math.max(1, (s.mean_ms / max) * (W - 190)), height: 12, fill: '#2c6fbb', 'data-stage': s.stage }));
      graph.appendChild(text(W, y + 11, N.duration(s.mean_ms) + ' · ' + N.duration(s.total_ms) + ' in all', 'end'));
    });
    if (list.length === 0) graph.appendChild(text(W / 2, H / 2, 'no stage finished in this range', 'middle'));
    box.appendChild(graph);
    return box;
  }
  function build(container) {
    container.appendChild(el('h2', 'Monitor'));
    var buttons = el('div', null, 'actions'); buttons.id = 'ranges';
    ['1h', '24h', '7d'].forEach(function (r) {
      var b = el('button', 'last ' + r); b.type = 'button'; b.setAttribute('data-range', r);
      b.addEventListener('click', function () { range = r; load(); }); buttons.appendChild(b);
    });
    container.appendChild(buttons);
    totals = el('div', null, 'figures'); totals.id = 'monitor-totals'; container.appendChild(totals);
    charts = el('div', null, 'charts'); container.appendChild(charts);
  }
  function figure(label, value, id) { var box = el('div', label); var b = el('b', value); b.id = id; box.appendChild(b); totals.appendChild(box); }
  function load() {
    return N.api('GET', 'monitor?range=' + range).then(function (m) {
      document.querySelectorAll('#ranges button').forEach(function (b) { b.disabled = b.getAttribute('data-range') === range; });
      N.clear(totals);
      figure('succeeded', m.totals.succeeded, 'total-succeeded'); figure('failed', m.totals.failed, 'total-failed');
      figure('rejected', m.totals.rejected, 'total-rejected'); figure('delivered', N.bytes(m.totals.bytes), 'total-bytes');
      figure('p50', N.duration(m.totals.p50_ms), 'total-p50'); figure('p95', N.duration(m.totals.p95_ms), 'total-p95');
      N.clear(charts);
      charts.appendChild(lineChart('chart-outcomes', 'Succeeded and failed per minute', m.points, [
        { key: 'succeeded', label: 'succeeded', color: '#2a8a4a' }, { key: 'failed', label: 'failed or rejected', color: '#c0392b' }]));
      charts.appendChild(lineChart('chart-queue', 'Queue depth', m.points, [
        { key: 'queue_waiting', label: 'waiting', color: '#8e6fbf' }, { key: 'queue_active', label: 'active', color: '#2c6fbb' }]));
      charts.appendChild(lineChart('chart-duration', 'Job duration p50 and p95', m.points, [
        { key: 'p50_ms', label: 'p50', color: '#2c6fbb' }, { key: 'p95_ms', label: 'p95', color: '#d35400' }], ' ms'));
      charts.appendChild(lineChart('chart-bytes', 'Bytes per second delivered', m.points, [
        { key: 'bytes_per_second', label: 'bytes/s', color: '#16a085' }], ' B/s'));
      charts.appendChild(stageChart(m.stages));
    }).catch(function () {});
  }
  N.views.monitor = { enter: function (container) { build(container); N.every(15000, load); }, refresh: load };
})();
`;
