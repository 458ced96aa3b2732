/**
 * Workers (`/dashboard/workers`): every worker with online or offline state,
 * host and pid, concurrency (set and current), memory, processed, failed,
 * running now and the last task taken; pause, resume, concurrency and stop per
 * worker or for all of them (`POST workers/<id>/control`).
 */
export const viewWorkers = `
(function () {
  'use strict';
  var N = window.NCR, el = N.el, cell = N.cell;
  var body, summary;
  function control(id, change) {
    return N.api('POST', 'workers/' + encodeURIComponent(id) + '/control', change);
  }
  function concurrencyForm(w) {
    var form = el('form'); form.className = 'concurrency-form';
    var input = el('input'); input.type = 'number'; input.min = '1'; input.max = '256'; input.name = 'concurrency';
    input.value = String(w.control.concurrency || w.concurrency); input.style.width = '4rem';
    var set = el('button', 'Set'); set.type = 'submit';
    form.appendChild(input); form.appendChild(set);
    form.addEventListener('submit', function (event) {
      event.preventDefault(); set.disabled = true;
      control(w.id, { concurrency: Number(input.value) }).then(function () { N.setNotice(''); }, function () {}).then(function () { set.disabled = false; load(); });
    });
    return form;
  }
  function build(container) {
    container.appendChild(el('h2', 'Workers'));
    summary = el('div', null, 'figures'); summary.id = 'worker-figures'; container.appendChild(summary);
    var all = el('div', null, 'actions'); all.id = 'all-workers';
    all.appendChild(N.button('Pause all', function () { return control('*', { paused: true }); }, load));
    all.appendChild(N.button('Resume all', function () { return control('*', { paused: false }); }, load));
    container.appendChild(all);
    var table = N.table(['worker', 'status', 'host', 'pid', 'concurrency (set / now)', 'memory', 'processed', 'failed', 'running', 'last task', 'actions']);
    body = table.body; body.id = 'worker-rows'; container.appendChild(table.table);
  }
  function figure(label, value, id) { var box = el('div', label); var b = el('b', value); b.id = id; box.appendChild(b); summary.appendChild(box); }
  function load() {
    return N.api('GET', 'workers').then(function (list) {
      N.clear(summary);
      figure('online', list.online, 'fig-online'); figure('offline', list.workers.length - list.online, 'fig-offline');
      figure('running now', list.workers.reduce(function (s, w) { return s + (w.online ? w.active : 0); }, 0), 'fig-running');
      N.clear(body);
      list.workers.forEach(function (w) {
        var row = el('tr'); row.setAttribute('data-worker-id', w.id); row.setAttribute('data-online', String(w.online));
        row.setAttribute('data-paused', String(w.paused));
        cell(row, w.id);
        var status = cell(row); status.appendChild(N.badge(w.online ? 'online' : 'offline'));
        if (w.online && w.draining) status.appendChild(N.badge('draining'));
        else if (w.online && w.paused) status.appendChild(N.badge('paused'));
        if (w.pause_reason === 'memory') status.appendChild(el('span', ' memory', 'detail'));
        cell(row, w.host); cell(row, w.pid, 'num');
        var conc = cell(row, w.concurrency + ' / ' + w.concurrency_current, 'num'); conc.setAttribute('data-field', 'concurrency');
        cell(row, N.bytes(w.memory_rss) + ' (system ' + Math.round(w.memory_percent) + ' %)', 'num');
        cell(row, w.processed, 'num'); cell(row, w.failed, 'num'); cell(row, w.active, 'num');
        var last = cell(row);
        if (w.last_task_id) { last.appendChild(N.link(w.last_task_id, 'tasks/' + encodeURIComponent(w.last_task_id))); last.appendChild(el('div', N.when(w.last_task_at), 'detail')); }
        else last.textContent = '–';
        var actions = cell(row, null, 'actions');
        if (w.online && !w.draining) {
          actions.appendChild(w.control.paused
            ? N.button('Resume', function () { return control(w.id, { paused: false }); }, load)
            : N.button('Pause', function () { return control(w.id, { paused: true }); }, load));
          actions.appendChild(concurrencyForm(w));
          actions.appendChild(N.button('Drain and stop', function () {
            if (!window.confirm('Stop worker ' + w.id + ' after its running jobs?')) return Promise.resolve();
            return control(w.id, { stop: true });
          }, load));
        }
        body.appendChild(row);
      });
    }).catch(function () {});
  }
  N.views.workers = {
    enter: function (container) {
      build(container);
      // A poll does not rebuild the rows while someone types a concurrency.
      N.every(2000, function () { if (!body.contains(document.activeElement)) load(); });
    },
    refresh: load
  };
})();
`;
