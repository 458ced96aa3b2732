/**
 * The task list (`/dashboard/tasks`): one page of `GET tasks` at a time,
 * sortable by every column, filtered by state, worker, time range and a search
 * prefix. The filters live in the URL's query string, so a view can be shared.
 */
export const viewTasks = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el, cell = N.cell;
  var COLUMNS = [
    ['state', 'state'], ['job_id', 'job_id'], ['username', 'username'], ['campaign', 'campaign'], ['worker', 'worker'],
    ['started_at', 'started'], ['duration', 'duration'], ['attempts', 'attempts', 'num'], ['size', 'size', 'num']
  ];
  var STATES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'rejected', 'cancelled'];
  var params, body, summary, form, head;
  function readParams() {
    var search = new URLSearchParams(location.search);
    return {
      state: search.get('state') || '', worker: search.get('worker') || '', q: search.get('q') || '',
      from: search.get('from') || '', to: search.get('to') || '', sort: search.get('sort') || 'created_at',
      order: search.get('order') || 'desc', offset: Number(search.get('offset') || 0), limit: Number(search.get('limit') || 50)
    };
  }
  function writeParams() {
    history.replaceState({}, '', N.href('tasks') + '?' + N.query(params));
  }
  function toIso(local) { if (!local) return ''; var d = new Date(local); return isNaN(d.getTime()) ? '' : d.toISOString(); }
  function toLocal(iso) { if (!iso) return ''; var d = new Date(iso); if (isNaN(d.getTime())) return ''; d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); }
  function input(name, type, value, placeholder) { var i = el('input'); i.name = name; i.type = type; i.value = value; if (placeholder) i.placeholder = placeholder; return i; }
  function build(container) {
    container.appendChild(el('h2', 'Tasks'));
    form = el('form'); form.id = 'task-filter';
    var state = el('select'); state.name = 'state'; state.appendChild(el('option', 'any state')).value = '';
    STATES.forEach(function (s) { state.appendChild(el('option', s)); });
    state.appendChild(el('option', 'failed or rejected')).value = 'failed,rejected';
    state.appendChild(el('option', 'active (queued, running, retrying)')).value = 'queued,running,retrying';
    state.value = params.state;
    var worker = el('select'); worker.name = 'worker'; worker.appendChild(el('option', 'any worker')).value = '';
    if (params.worker) { worker.appendChild(el('option', params.worker)); worker.value = params.worker; }
    N.api('GET', 'workers').then(function (list) {
      list.workers.forEach(function (w) { if (w.id !== params.worker) worker.appendChild(el('option', w.id)); });
    }).catch(function () {});
    form.appendChild(input('q', 'search', params.q, 'job_id, username or campaign (prefix)'));
    form.appendChild(state); form.appendChild(worker);
    var from = input('from', 'datetime-local', toLocal(params.from)); from.title = 'created from';
    var to = input('to', 'datetime-local', toLocal(params.to)); to.title = 'created until';
    form.appendChild(el('label', 'from ')).appendChild(from); form.appendChild(el('label', 'to ')).appendChild(to);
    var go = el('button', 'Apply'); go.type = 'submit'; form.appendChild(go);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      params.q = form.elements.q.value.trim(); params.state = form.elements.state.value; params.worker = form.elements.worker.value;
      params.from = toIso(form.elements.from.value); params.to = toIso(form.elements.to.value); params.offset = 0;
      load();
    });
    container.appendChild(form);
    summary = el('div', null, 'pager'); container.appendChild(summary);
    var table = N.table([]); head = table.head;
    COLUMNS.forEach(function (c) {
      var th = el('th', c[1], 'sortable' + (c[2] ? ' ' + c[2] : '')); th.setAttribute('data-sort', c[0]);
      th.addEventListener('click', function () {
        if (params.sort === c[0]) params.order = params.order === 'desc' ? 'asc' : 'desc';
        else { params.sort = c[0]; params.order = 'desc'; }
        params.offset = 0; load();
      });
      head.appendChild(th);
    });
    body = table.body; body.id = 'task-rows'; container.appendChild(table.table);
  }
  function pager(total) {
    N.clear(summary);
    var first = total === 0 ? 0 : params.offset + 1, last = Math.min(total, params.offset + params.limit);
    var text = el('span', first + '–' + last + ' of ' + total); text.id = 'task-total'; text.setAttribute('data-total', String(total));
    var prev = el('button', '‹ Newer'); prev.type = 'button'; prev.disabled = params.offset === 0;
    prev.addEventListener('click', function () { params.offset = Math.max(0, params.offset - params.limit); load(); });
    var next = el('button', 'Older ›'); next.type = 'button'; next.disabled = last >= total; next.id = 'task-next';
    next.addEventListener('click', function () { params.offset += params.limit; load(); });
    summary.appendChild(prev); summary.appendChild(text); summary.appendChild(next);
  }
  function load() {
    writeParams();
    Array.prototype.forEach.call(head.children, function (th) {
      var sorted = th.getAttribute('data-sort') === params.sort;
      th.classList.toggle('sorted', sorted); th.classList.toggle('asc', sorted && params.order === 'asc');
    });
    var query = { state: params.state, worker: params.worker, q: params.q, from: params.from, to: params.to, sort: params.sort, order: params.order, offset: params.offset, limit: params.limit };
    return N.api('GET', 'tasks?' + N.query(query)).then(function (page) {
      pager(page.total); N.clear(body);
      page.items.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id); row.setAttribute('data-state', t.state);
        cell(row).appendChild(N.badge(t.state));
        cell(row).appendChild(N.link(t.job_id, 'tasks/' + encodeURIComponent(t.task_id)));
        cell(row, t.job.username); cell(row, t.job.campaign); cell(row, t.worker || '–');
        cell(row, N.when(t.started_at)); cell(row, N.duration(N.between(t.started_at, t.finished_at)));
        cell(row, t.attempts + ' / ' + t.max_attempts, 'num'); cell(row, t.result ? N.bytes(t.result.size) : '–', 'num');
        body.appendChild(row);
      });
    }).catch(function () {});
  }
  N.views.tasks = {
    enter: function (container) { params = readParams(); build(container); N.every(5000, function () { if (params.offset === 0) load(); }); },
    refresh: function () { return load(); }
  };
})();
`;
