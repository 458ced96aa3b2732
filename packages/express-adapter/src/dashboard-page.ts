/**
 * The live dashboard: one self-contained page (no CDN) that lists active jobs
 * (`jobs/active`), queue figures (`worker-stats`) and a live event log read
 * from `events`. The stream is read with fetch rather than EventSource so the
 * API key can travel in a header; the key is kept in sessionStorage only.
 */
export function dashboardPage(base: string, title: string): string {
  const safeTitle = title.replace(/[&<>"']/g, '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${safeTitle} · Dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.3rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}
.bar{background:#eee;width:120px;height:10px}.bar i{display:block;height:10px;background:#3a7}
#log{font:12px monospace;max-height:300px;overflow:auto;background:#f7f7f7;padding:6px}
.stats span{margin-right:1.2rem}#state{color:#888}
</style></head><body>
<h1>${safeTitle}</h1>
<p><label>API key <input id="key" type="password" autocomplete="off"></label> <span id="state">connecting…</span></p>
<p class="stats" id="stats"></p>
<h2>Active jobs</h2>
<table><thead><tr><th>task</th><th>job</th><th>state</th><th>stage</th><th>progress</th></tr></thead><tbody id="jobs"></tbody></table>
<h2>Events</h2><div id="log"></div>
<script>
(function () {
  var base = ${JSON.stringify(base)};
  var keyInput = document.getElementById('key');
  keyInput.value = sessionStorage.getItem('ncr-upload-key') || '';
  function headers() { var k = keyInput.value; return k ? { 'X-API-Key': k } : {}; }
  function cell(row, text) { var td = document.createElement('td'); td.textContent = text; row.appendChild(td); return td; }
  function refresh() {
    fetch(base + 'jobs/active', { headers: headers() }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (!body) return;
      var tbody = document.getElementById('jobs'); tbody.textContent = '';
      body.jobs.forEach(function (t) {
        var row = document.createElement('tr');
        cell(row, t.task_id); cell(row, t.job_id); cell(row, t.state); cell(row, t.stage || '');
        var bar = document.createElement('div'); bar.className = 'bar';
        var fill = document.createElement('i'); fill.style.width = t.progress.percent + '%'; bar.appendChild(fill);
        cell(row, '').appendChild(bar); tbody.appendChild(row);
      });
    }).catch(function () {});
    fetch(base + 'worker-stats', { headers: headers() }).then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
      if (!s) return;
      document.getElementById('stats').textContent = 'active ' + s.active + ' · queued ' + s.queued + ' · scheduled ' + s.scheduled + ' · concurrency ' + s.concurrency + (s.draining ? ' · draining' : '');
    }).catch(function () {});
  }
  function log(event) {
    var line = document.createElement('div');
    line.textContent = event.at + '  ' + event.task_id + '  ' + event.state + (event.stage ? ' / ' + event.stage : '') + '  ' + event.progress.percent + '%' + (event.error_code ? '  ' + event.error_code : '');
    var box = document.getElementById('log'); box.insertBefore(line, box.firstChild);
    while (box.childNodes.length > 200) box.removeChild(box.lastChild);
  }
  var controller;
  function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    var state = document.getElementById('state');
    fetch(base + 'events', { headers: headers(), signal: controller.signal }).then(function (response) {
      if (!response.ok) { state.textContent = 'events: HTTP ' + response.status; return; }
      state.textContent = 'live';
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error('closed');
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split('\\n\\n'); buffer = parts.pop();
          parts.forEach(function (part) {
            var data = part.split('\\n').filter(function (l) { return l.indexOf('data: ') === 0; }).map(function (l) { return l.slice(6); }).join('\\n');
            if (!data) return;
            if (part.indexOf('event: gap') !== -1) { refresh(); return; }
            log(JSON.parse(data)); refresh();
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () { state.textContent = 'reconnecting…'; setTimeout(connect, 3000); });
  }
  keyInput.addEventListener('change', function () { sessionStorage.setItem('ncr-upload-key', keyInput.value); refresh(); connect(); });
  refresh(); connect(); setInterval(refresh, 5000);
})();
</script></body></html>`;
}
