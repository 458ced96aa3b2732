/**
 * A task's detail (`/dashboard/tasks/<task_id>`): the request, state and
 * worker, the result, the error, the timeline of every attempt stage by stage
 * (times, durations, files and bytes, errors), and Cancel / Retry.
 */
export const viewTask = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el, cell = N.cell;
  var taskId, root;
  function kv(list, pairs) {
    pairs.forEach(function (p) {
      list.appendChild(el('dt', p[0]));
      var dd = el('dd'); if (p[1] instanceof Node) dd.appendChild(p[1]); else dd.textContent = p[1] === null || p[1] === undefined ? '–' : String(p[1]);
      list.appendChild(dd);
    });
  }
  function render(detail) {
    var t = detail.task; N.clear(root);
    root.setAttribute('data-task-id', t.task_id); root.setAttribute('data-state', t.state);
    var title = el('h2', 'Task '); title.appendChild(el('span', t.task_id)); root.appendChild(title);
    var actions = el('div', null, 'actions');
    if (t.state === 'queued' || t.state === 'running' || t.state === 'retrying')
      actions.appendChild(N.button('Cancel', function () { return N.api('DELETE', 'jobs/' + encodeURIComponent(t.task_id)); }, load));
    if (t.state === 'failed' || t.state === 'rejected' || t.state === 'cancelled')
      actions.appendChild(N.button('Retry', function () {
        return N.api('POST', 'jobs/' + encodeURIComponent(t.task_id) + '/retry').then(function (r) { N.go('tasks/' + encodeURIComponent(r.task_id)); });
      }, function () {}));
    root.appendChild(actions);
    var status = el('dl', null, 'kv'); status.id = 'task-status';
    kv(status, [['state', N.badge(t.state)], ['stage', t.stage], ['worker', t.worker], ['attempts', t.attempts + ' / ' + t.max_attempts],
      ['created', N.when(t.created_at)], ['started', N.when(t.started_at)], ['finished', N.when(t.finished_at)],
      ['duration', N.duration(N.between(t.started_at, t.finished_at))], ['progress', t.progress.percent + ' %'],
      ['batch', t.batch_id ? N.link(t.batch_id, 'batches/' + encodeURIComponent(t.batch_id)) : null], ['cancel requested', t.cancel_requested ? 'yes' : 'no']]);
    root.appendChild(status);
    root.appendChild(el('h3', 'Request'));
    var request = el('dl', null, 'kv'); request.id = 'task-request';
    kv(request, [['job_id', t.job.job_id], ['username', t.job.username], ['campaign', t.job.campaign], ['row_id', t.job.row_id]]);
    root.appendChild(request);
    if (t.result) {
      root.appendChild(el('h3', 'Result'));
      var result = el('dl', null, 'kv'); result.id = 'task-result';
      kv(result, [['remote path', t.result.remote_path], ['size', N.bytes(t.result.size) + ' (' + t.result.size + ' bytes)'], ['sha256', t.result.sha256], ['files', t.result.files]]);
      root.appendChild(result);
    }
    if (t.error) {
      root.appendChild(el('h3', 'Error'));
      var error = el('dl', null, 'kv'); error.id = 'task-error';
      kv(error, [['code', t.error.code], ['message', t.error.message], ['stage', t.error.stage], ['retryable', t.error.retryable ? 'yes' : 'no']]);
      root.appendChild(error);
    }
    root.appendChild(el('h3', 'Timeline'));
    var table = N.table(['state', 'stage', 'started', 'time', 'worker', 'files', 'bytes', 'error']);
    table.table.className = 'timeline'; table.body.id = 'timeline';
    var attempt = -1, errors = [];
    detail.timeline.forEach(function (span) {
      if (span.attempt !== attempt) {
        attempt = span.attempt;
        var header = el('tr', null, 'attempt'); var td = cell(header, attempt === 0 ? 'Waiting in the queue' : 'Attempt ' + attempt); td.colSpan = 8;
        table.body.appendChild(header);
      }
      var row = el('tr'); row.setAttribute('data-attempt', String(span.attempt)); row.setAttribute('data-stage', span.stage || '');
      cell(row).appendChild(N.badge(span.state)); cell(row, span.stage || '–'); cell(row, N.when(span.started_at));
      var ended = ['succeeded', 'failed', 'rejected', 'cancelled'].indexOf(span.state) >= 0;
      cell(row, ended ? '–' : N.duration(N.between(span.started_at, span.ended_at)) + (span.ended_at ? '' : ' (so far)'));
      cell(row, span.worker || '–'); cell(row, span.files_total ? span.files_done + ' / ' + span.files_total : '–', 'num');
      cell(row, span.bytes_total ? N.bytes(span.bytes_done) + ' / ' + N.bytes(span.bytes_total) : '–', 'num');
      var err = cell(row, null, 'detail');
      if (span.error) { err.appendChild(el('b', span.error.code)); err.appendChild(el('span', ' ' + span.error.message)); errors.push(span.error); }
      table.body.appendChild(row);
    });
    root.appendChild(table.table);
    if (errors.length > 0) {
      root.appendChild(el('h3', 'Errors of every attempt'));
      var list = el('ol'); list.id = 'task-errors';
      errors.forEach(function (e) { var li = el('li'); li.appendChild(el('b', e.code)); li.appendChild(el('span', ' ' + e.message)); list.appendChild(li); });
      root.appendChild(list);
    }
  }
  function load() {
    return N.api('GET', 'tasks/' + encodeURIComponent(taskId)).then(render).catch(function () {});
  }
  var pending = null;
  N.views.task = {
    enter: function (container, id) {
      root = container; taskId = id; load();
      N.onEvent(function (event) {
        if (event.task_id !== taskId || pending) return;
        pending = setTimeout(function () { pending = null; if (root.getAttribute('data-view') === 'task') load(); }, 300);
      });
    },
    refresh: load
  };
})();
`;
