/**
 * The overview (`/dashboard`): queue figures, workers, active tasks with live
 * progress (`jobs/active` plus the event stream), the most recent tasks with a
 * filter (`jobs`), Cancel and Retry.
 */
export const viewOverview = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el, cell = N.cell;
  var activeRows = {}, pending = null, root;
  function $(id) { return document.getElementById(id); }
  function build(container) {
    root = container;
    var figures = el('div', null, 'figures');
    [['queued', 'fig-queued'], ['active', 'fig-active'], ['scheduled', 'fig-scheduled'], ['paused', 'fig-paused']].forEach(function (f) {
      var box = el('div', f[0]); var b = el('b', '–'); b.id = f[1]; box.appendChild(b); figures.appendChild(box);
    });
    container.appendChild(figures);
    container.appendChild(el('h2', 'Workers'));
    var workers = N.table(['worker', 'active', 'concurrency', 'last job']); workers.body.id = 'workers'; container.appendChild(workers.table);
    container.appendChild(el('h2', 'Active jobs'));
    var active = N.table(['task', 'job', 'state', 'stage', 'progress', 'files', 'bytes', 'attempts', '']); active.body.id = 'active'; container.appendChild(active.table);
    container.appendChild(el('h2', 'Recent tasks'));
    var form = el('form'); form.id = 'filter';
    ['job_id', 'username', 'campaign'].forEach(function (name) { var i = el('input'); i.name = name; i.placeholder = name; form.appendChild(i); });
    var select = el('select'); select.name = 'state'; select.appendChild(el('option', 'any state')).value = '';
    ['queued', 'running', 'retrying', 'succeeded', 'failed', 'rejected', 'cancelled'].forEach(function (s) { select.appendChild(el('option', s)); });
    form.appendChild(select); var submit = el('button', 'Filter'); submit.type = 'submit'; form.appendChild(submit);
    form.addEventListener('submit', function (event) { event.preventDefault(); refreshRecent().catch(function () {}); });
    container.appendChild(form);
    var recent = N.table(['task', 'job', 'user', 'campaign', 'state', 'updated', 'detail', '']); recent.body.id = 'recent'; container.appendChild(recent.table);
  }
  function refreshStats() {
    return N.api('GET', 'worker-stats').then(function (s) {
      $('fig-queued').textContent = String(s.queued); $('fig-active').textContent = String(s.active);
      $('fig-scheduled').textContent = String(s.scheduled); $('fig-paused').textContent = String(s.paused);
      var tbody = N.clear($('workers'));
      (s.workers || []).forEach(function (w) { var row = el('tr'); cell(row, w.id); cell(row, w.active, 'num'); cell(row, w.concurrency, 'num'); cell(row, N.when(w.last_job_at)); tbody.appendChild(row); });
    });
  }
  function fillActive(row, t) {
    var p = t.progress || { percent: 0, files_done: 0, files_total: 0, bytes_done: 0, bytes_total: 0 };
    var cells = row.children;
    N.clear(cells[2]).appendChild(N.badge(t.state));
    cells[3].textContent = t.stage || '–';
    N.clear(cells[4]); var bar = el('span', null, 'bar'), fill = el('i'); fill.style.width = Math.max(0, Math.min(100, Number(p.percent) || 0)) + '%'; bar.appendChild(fill);
    cells[4].appendChild(bar); cells[4].appendChild(el('span', Math.round(Number(p.percent) || 0) + '%'));
    cells[5].textContent = p.files_done + ' / ' + p.files_total;
    cells[6].textContent = N.bytes(p.bytes_done) + ' / ' + N.bytes(p.bytes_total);
    if (t.attempts !== undefined) cells[7].textContent = t.attempts + ' / ' + t.max_attempts;
  }
  function refreshActive() {
    return N.api('GET', 'jobs/active').then(function (body) {
      var tbody = N.clear($('active')); activeRows = {};
      body.jobs.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id);
        cell(row).appendChild(N.link(t.task_id, 'tasks/' + encodeURIComponent(t.task_id))); cell(row, t.job_id);
        cell(row); cell(row); cell(row); cell(row, null, 'num'); cell(row, null, 'num'); cell(row, null, 'num');
        cell(row).appendChild(N.button('Cancel', function () { return N.api('DELETE', 'jobs/' + encodeURIComponent(t.task_id)); }));
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
    return N.api('GET', 'jobs?' + filterQuery()).then(function (body) {
      var tbody = N.clear($('recent'));
      body.jobs.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id); row.setAttribute('data-state', t.state);
        cell(row).appendChild(N.link(t.task_id, 'tasks/' + encodeURIComponent(t.task_id)));
        cell(row, t.job_id); cell(row, t.job && t.job.username); cell(row, t.job && t.job.campaign);
        cell(row).appendChild(N.badge(t.state)); cell(row, N.when(t.updated_at));
        var detail = cell(row, null, 'detail');
        if (t.error) { detail.appendChild(el('b', t.error.code)); detail.appendChild(el('span', ' ' + t.error.message)); }
        else if (t.result) detail.textContent = t.result.remote_path;
        var actions = cell(row);
        if (t.state === 'failed' || t.state === 'rejected' || t.state === 'cancelled')
          actions.appendChild(N.button('Retry', function () { return N.api('POST', 'jobs/' + encodeURIComponent(t.task_id) + '/retry'); }));
        tbody.appendChild(row);
      });
    });
  }
  function refreshAll() { return Promise.all([refreshStats(), refreshActive(), refreshRecent()]).catch(function () {}); }
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; if (root && root.getAttribute('data-view') === 'overview') refreshAll(); }, 250);
  }
  N.views.overview = {
    enter: function (container) {
      build(container);
      refreshAll();
      N.every(3000, function () { refreshStats().catch(function () {}); });
      N.onEvent(function (event) {
        var row = activeRows[event.task_id];
        if (row && (event.state === 'queued' || event.state === 'running' || event.state === 'retrying')) fillActive(row, event);
        else refreshSoon();
      });
    },
    refresh: refreshAll
  };
})();
`;
