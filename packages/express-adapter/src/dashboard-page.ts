/**
 * The live dashboard (the Flower equivalent): one self-contained page, no CDN,
 * no framework. It shows queue figures and workers (`worker-stats`, polled),
 * active tasks with live progress (`jobs/active` plus the `events` stream; an
 * `event: gap` triggers a refetch), recent tasks with a filter (`jobs`), and
 * Cancel / Retry actions. Every URL is relative to the router's mount point so
 * the page works under any prefix. The stream is read with fetch rather than
 * EventSource so the API key can travel in the `X-API-Key` header; the key is
 * kept in sessionStorage only. Job fields are user input: the script inserts
 * every value with `textContent`, never as markup.
 */
export function dashboardPage(base: string, title: string): string {
  const safeTitle = title.replace(/[&<>"']/g, '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${safeTitle} · Dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600}td.num{text-align:right}
.bar{background:#eee;width:120px;height:10px;display:inline-block;margin-right:6px}.bar i{display:block;height:10px;background:#3a7}
.figures{display:flex;gap:1rem;margin:.6rem 0}.figures div{background:#f4f6f8;border-radius:6px;padding:.4rem .9rem;min-width:6rem}
.figures b{display:block;font-size:1.4rem}.badge{border-radius:4px;padding:1px 6px;font-size:12px;color:#fff;background:#888}
.badge.succeeded{background:#2a8a4a}.badge.failed{background:#c0392b}.badge.rejected{background:#d35400}.badge.cancelled{background:#7f8c8d}
.badge.running{background:#2c6fbb}.badge.queued,.badge.retrying{background:#8e6fbf}
#notice{color:#a00;white-space:pre-wrap}#state{color:#888}form{margin:.3rem 0}input,select{margin-right:.4rem}.detail{font-size:12px;color:#555}
</style></head><body>
<h1>${safeTitle}</h1>
<form id="key-form"><label>API key <input id="key" type="password" autocomplete="off"></label> <button type="submit">Use key</button> <span id="state">connecting…</span></form>
<p id="notice" role="alert"></p>
<div class="figures"><div>queued<b id="fig-queued">–</b></div><div>active<b id="fig-active">–</b></div><div>scheduled<b id="fig-scheduled">–</b></div><div>paused<b id="fig-paused">–</b></div></div>
<h2>Workers</h2>
<table><thead><tr><th>worker</th><th>active</th><th>concurrency</th><th>last job</th></tr></thead><tbody id="workers"></tbody></table>
<h2>Active jobs</h2>
<table><thead><tr><th>task</th><th>job</th><th>state</th><th>stage</th><th>progress</th><th>files</th><th>bytes</th><th>attempts</th><th></th></tr></thead><tbody id="active"></tbody></table>
<h2>Recent tasks</h2>
<form id="filter"><input name="job_id" placeholder="job_id"><input name="username" placeholder="username"><input name="campaign" placeholder="campaign">
<select name="state"><option value="">any state</option><option>queued</option><option>running</option><option>retrying</option><option>succeeded</option><option>failed</option><option>rejected</option><option>cancelled</option></select>
<button type="submit">Filter</button></form>
<table><thead><tr><th>task</th><th>job</th><th>user</th><th>campaign</th><th>state</th><th>updated</th><th>detail</th><th></th></tr></thead><tbody id="recent"></tbody></table>
<script>
(function () {
  var base = ${JSON.stringify(base)};
  var KEY = 'ncr-upload-key';
  var keyInput = document.getElementById('key');
  var stateText = document.getElementById('state');
  var notice = document.getElementById('notice');
  var activeRows = {};
  var actionFailed = false;
  keyInput.value = sessionStorage.getItem(KEY) || '';
  function $(id) { return document.getElementById(id); }
  function headers() { var k = keyInput.value; return k ? { 'X-API-Key': k } : {}; }
  function el(tag, text, className) { var node = document.createElement(tag); if (text !== undefined && text !== null) node.textContent = String(text); if (className) node.className = className; return node; }
  function cell(row, text, className) { var td = el('td', text, className); row.appendChild(td); return td; }
  function bytes(n) { var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i += 1; } return (i ? n.toFixed(1) : n) + ' ' + u[i]; }
  function when(iso) { if (!iso) return '–'; var d = new Date(iso); return isNaN(d.getTime()) ? String(iso) : d.toLocaleString(); }
  /** fetch JSON; on an HTTP error show the problem detail and reject. */
  function api(method, path) {
    return fetch(base + path, { method: method, headers: headers() }).then(function (response) {
      return response.text().then(function (text) {
        var body = null; try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!response.ok) {
          var message = 'HTTP ' + response.status + (body && body.title ? ' ' + body.title : '') + (body && (typeof body.detail === 'string' ? body.detail : body.message) ? ': ' + (typeof body.detail === 'string' ? body.detail : body.message) : '') + ' (' + method + ' ' + path.split('?')[0] + ')';
          // An action's problem stays on screen until the next action or key; background polls do not hide it.
          if (method !== 'GET') { actionFailed = true; notice.textContent = message; }
          else if (!actionFailed) notice.textContent = message;
          throw new Error(message);
        }
        return body;
      });
    });
  }
  function badge(state) { return el('span', state, 'badge ' + String(state).replace(/[^a-z]/g, '')); }
  function button(label, action) { var b = el('button', label); b.type = 'button'; b.addEventListener('click', function () { b.disabled = true; action().then(function () { actionFailed = false; notice.textContent = ''; }, function () {}).then(function () { b.disabled = false; refreshAll(); }); }); return b; }
  function refreshStats() {
    return api('GET', 'worker-stats').then(function (s) {
      $('fig-queued').textContent = String(s.queued); $('fig-active').textContent = String(s.active);
      $('fig-scheduled').textContent = String(s.scheduled); $('fig-paused').textContent = String(s.paused);
      var tbody = $('workers'); tbody.textContent = '';
      (s.workers || []).forEach(function (w) { var row = el('tr'); cell(row, w.id); cell(row, w.active, 'num'); cell(row, w.concurrency, 'num'); cell(row, when(w.last_job_at)); tbody.appendChild(row); });
    });
  }
  function fillActive(row, t) {
    var p = t.progress || { percent: 0, files_done: 0, files_total: 0, bytes_done: 0, bytes_total: 0 };
    var cells = row.children;
    cells[2].textContent = ''; cells[2].appendChild(badge(t.state));
    cells[3].textContent = t.stage || '–';
    cells[4].textContent = ''; var bar = el('span', null, 'bar'), fill = el('i'); fill.style.width = Math.max(0, Math.min(100, Number(p.percent) || 0)) + '%'; bar.appendChild(fill);
    cells[4].appendChild(bar); cells[4].appendChild(el('span', Math.round(Number(p.percent) || 0) + '%'));
    cells[5].textContent = p.files_done + ' / ' + p.files_total;
    cells[6].textContent = bytes(p.bytes_done) + ' / ' + bytes(p.bytes_total);
    if (t.attempts !== undefined) cells[7].textContent = t.attempts + ' / ' + t.max_attempts;
  }
  function refreshActive() {
    return api('GET', 'jobs/active').then(function (body) {
      var tbody = $('active'); tbody.textContent = ''; activeRows = {};
      body.jobs.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id);
        cell(row, t.task_id); cell(row, t.job_id); cell(row); cell(row); cell(row); cell(row, null, 'num'); cell(row, null, 'num'); cell(row, null, 'num');
        cell(row).appendChild(button('Cancel', function () { return api('DELETE', 'jobs/' + encodeURIComponent(t.task_id)); }));
        fillActive(row, t); activeRows[t.task_id] = row; tbody.appendChild(row);
      });
    });
  }
  function filterQuery() {
    var form = $('filter'), parts = ['limit=50'];
    ['job_id', 'username', 'campaign', 'state'].forEach(function (name) { var v = form.elements[name].value.trim(); if (v) parts.push(name + '=' + encodeURIComponent(v)); });
    return parts.join('&');
  }
  function refreshRecent() {
    return api('GET', 'jobs?' + filterQuery()).then(function (body) {
      var tbody = $('recent'); tbody.textContent = '';
      body.jobs.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id); row.setAttribute('data-state', t.state);
        cell(row, t.task_id); cell(row, t.job_id); cell(row, t.job && t.job.username); cell(row, t.job && t.job.campaign);
        cell(row).appendChild(badge(t.state)); cell(row, when(t.updated_at));
        var detail = cell(row, null, 'detail');
        if (t.error) { detail.appendChild(el('b', t.error.code)); detail.appendChild(el('span', ' ' + t.error.message)); }
        else if (t.result) detail.textContent = t.result.remote_path;
        var actions = cell(row);
        if (t.state === 'failed' || t.state === 'rejected' || t.state === 'cancelled')
          actions.appendChild(button('Retry', function () { return api('POST', 'jobs/' + encodeURIComponent(t.task_id) + '/retry'); }));
        tbody.appendChild(row);
      });
    });
  }
  function refreshAll() {
    return Promise.all([refreshStats(), refreshActive(), refreshRecent()]).catch(function () {});
  }
  var pending = null;
  function refreshSoon() { if (pending) return; pending = setTimeout(function () { pending = null; refreshActive().catch(function () {}); refreshRecent().catch(function () {}); refreshStats().catch(function () {}); }, 250); }
  function onTask(event) {
    var row = activeRows[event.task_id];
    if (row && (event.state === 'queued' || event.state === 'running' || event.state === 'retrying')) fillActive(row, event);
    else refreshSoon();
  }
  var controller;
  function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    var mine = controller;
    fetch(base + 'events', { headers: headers(), signal: mine.signal }).then(function (response) {
      if (!response.ok) { stateText.textContent = 'events: HTTP ' + response.status; return; }
      stateText.textContent = 'live';
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error('closed');
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split('\\n\\n'); buffer = parts.pop();
          parts.forEach(function (part) {
            var lines = part.split('\\n'), type = 'message', data = [];
            lines.forEach(function (l) { if (l.indexOf('event:') === 0) type = l.slice(6).trim(); else if (l.indexOf('data:') === 0) data.push(l.slice(5).replace(/^ /, '')); });
            if (type === 'gap') { refreshAll(); return; }
            if (type === 'task' && data.length) { try { onTask(JSON.parse(data.join('\\n'))); } catch (e) { refreshSoon(); } }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () { if (mine !== controller) return; stateText.textContent = 'reconnecting…'; setTimeout(function () { if (mine === controller) { connect(); refreshAll(); } }, 3000); });
  }
  $('key-form').addEventListener('submit', function (event) { event.preventDefault(); sessionStorage.setItem(KEY, keyInput.value); actionFailed = false; notice.textContent = ''; refreshAll(); connect(); });
  $('filter').addEventListener('submit', function (event) { event.preventDefault(); refreshRecent().then(function () { notice.textContent = ''; }, function () {}); });
  refreshAll(); connect(); setInterval(function () { refreshStats().catch(function () {}); }, 3000);
})();
</script></body></html>`;
}
