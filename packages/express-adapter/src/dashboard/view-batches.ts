/**
 * Batches (`/dashboard/batches`, newest first, with progress) and a batch's
 * detail (`/dashboard/batches/<batch_id>`: counts per state and its tasks);
 * and the queue (`/dashboard/queue`: waiting, active, delayed, failed, paused,
 * per priority, the oldest waiting age, and a bulk retry of failed tasks).
 */
export const viewBatches = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el, cell = N.cell;
  function progress(b) {
    var wrap = el('span'); var bar = el('span', null, 'bar'), fill = el('i');
    fill.style.width = Math.max(0, Math.min(100, Number(b.percent) || 0)) + '%'; bar.appendChild(fill);
    wrap.appendChild(bar); wrap.appendChild(el('span', b.completed + ' / ' + b.total + ' (' + b.percent + ' %)'));
    return wrap;
  }
  function counts(b) {
    var wrap = el('span');
    Object.keys(b.counts).forEach(function (state) {
      if (!b.counts[state]) return;
      wrap.appendChild(N.badge(state)); wrap.appendChild(el('span', ' ' + b.counts[state] + ' '));
    });
    return wrap;
  }
  var listBody, offset = 0;
  function loadList() {
    return N.api('GET', 'batches?offset=' + offset + '&limit=50').then(function (page) {
      N.clear(listBody);
      page.items.forEach(function (b) {
        var row = el('tr'); row.setAttribute('data-batch-id', b.batch_id); row.setAttribute('data-done', String(b.done));
        cell(row).appendChild(N.link(b.batch_id, 'batches/' + encodeURIComponent(b.batch_id)));
        cell(row, N.when(b.created_at)); cell(row).appendChild(progress(b)); cell(row).appendChild(counts(b));
        cell(row, b.done ? 'done' : 'running'); listBody.appendChild(row);
      });
      document.getElementById('batch-total').textContent = page.total + ' batches';
    }).catch(function () {});
  }
  N.views.batches = {
    enter: function (container) {
      container.appendChild(el('h2', 'Batches'));
      var total = el('p', '', 'muted'); total.id = 'batch-total'; container.appendChild(total);
      var table = N.table(['batch', 'created', 'progress', 'states', '']); listBody = table.body; listBody.id = 'batch-rows';
      container.appendChild(table.table);
      N.every(3000, loadList);
    },
    refresh: loadList
  };

  var batchId, detailRoot;
  function loadBatch() {
    return N.api('GET', 'batches/' + encodeURIComponent(batchId) + '?limit=500').then(function (d) {
      N.clear(detailRoot);
      var title = el('h2', 'Batch '); title.appendChild(el('span', d.batch.batch_id)); detailRoot.appendChild(title);
      var summary = el('p'); summary.id = 'batch-progress'; summary.appendChild(progress(d.batch)); summary.appendChild(counts(d.batch));
      detailRoot.appendChild(summary);
      var table = N.table(['state', 'job_id', 'username', 'campaign', 'worker', 'duration', 'error or result']); table.body.id = 'batch-tasks';
      d.tasks.forEach(function (t) {
        var row = el('tr'); row.setAttribute('data-task-id', t.task_id); row.setAttribute('data-state', t.state);
        cell(row).appendChild(N.badge(t.state)); cell(row).appendChild(N.link(t.job_id, 'tasks/' + encodeURIComponent(t.task_id)));
        cell(row, t.job.username); cell(row, t.job.campaign); cell(row, t.worker || '–');
        cell(row, N.duration(N.between(t.started_at, t.finished_at)));
        var detail = cell(row, null, 'detail');
        if (t.error) { detail.appendChild(el('b', t.error.code)); detail.appendChild(el('span', ' ' + t.error.message)); }
        else if (t.result) detail.textContent = t.result.remote_path;
        table.body.appendChild(row);
      });
      detailRoot.appendChild(table.table);
    }).catch(function () {});
  }
  N.views.batch = {
    enter: function (container, id) { detailRoot = container; batchId = id; N.every(3000, loadBatch); },
    refresh: loadBatch
  };

  var queueBody, queueFigures;
  function loadQueue() {
    return N.api('GET', 'queue').then(function (view) {
      N.clear(queueBody); N.clear(queueFigures);
      var box = el('div', 'workers online'); var b = el('b', view.workers_online); b.id = 'queue-workers-online'; box.appendChild(b); queueFigures.appendChild(box);
      view.queues.forEach(function (q) {
        var row = el('tr'); row.setAttribute('data-queue', q.name);
        cell(row, q.name);
        ['waiting', 'active', 'delayed', 'retrying', 'failed'].forEach(function (k) { var c = cell(row, q[k], 'num'); c.setAttribute('data-field', k); });
        cell(row, q.paused ? 'yes' : 'no');
        var oldest = cell(row, q.oldest_waiting_seconds === null ? '–' : N.duration(q.oldest_waiting_seconds * 1000)); oldest.setAttribute('data-field', 'oldest');
        cell(row, q.priorities.length ? q.priorities.map(function (p) { return p.priority + ': ' + p.waiting; }).join(', ') : '–');
        queueBody.appendChild(row);
      });
    }).catch(function () {});
  }
  N.views.queue = {
    enter: function (container) {
      container.appendChild(el('h2', 'Queue'));
      queueFigures = el('div', null, 'figures'); container.appendChild(queueFigures);
      var table = N.table(['queue', 'waiting', 'active', 'delayed', 'retrying', 'failed', 'paused', 'oldest waiting', 'waiting per priority']);
      queueBody = table.body; queueBody.id = 'queue-rows'; container.appendChild(table.table);
      var actions = el('div', null, 'actions'); actions.id = 'queue-actions';
      actions.appendChild(N.button('Retry failed tasks (up to 100)', function () {
        return N.api('POST', 'tasks/retry', { state: 'failed', limit: 100 }).then(function (r) {
          document.getElementById('retry-result').textContent = r.retried + ' tasks queued again';
        });
      }, loadQueue));
      var result = el('span', '', 'muted'); result.id = 'retry-result'; actions.appendChild(result);
      container.appendChild(actions);
      N.every(3000, loadQueue);
    },
    refresh: loadQueue
  };
})();
`;
