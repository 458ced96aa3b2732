/**
 * The console's shared client code (served as `dashboard/assets/core.js`):
 * the API key (sessionStorage only, sent in `X-API-Key`), `api()` with problem
 * details shown in `#notice`, DOM helpers that insert every value with
 * `textContent` (job fields are user input), the router over
 * `<mount>/dashboard/<view>/<id>` with history.pushState, one shared event
 * stream read with fetch (so the key travels in a header), and per-view timers
 * that stop when the view is left. Views register in `NCR.views` (view-*.ts).
 */
export const clientCore = String.raw`
(function () {
  'use strict';
  // The mount point as an absolute path: views change the URL, relative paths would move with it.
  var base = new URL(document.documentElement.getAttribute('data-base') || './', location.href).pathname;
  var KEY = 'ncr-upload-key';
  function $(id) { return document.getElementById(id); }
  var keyInput = $('key'), notice = $('notice'), stateText = $('state'), main = $('view');
  keyInput.value = sessionStorage.getItem(KEY) || '';
  var actionFailed = false, timers = [], listeners = [], current = null;
  var root = base + 'dashboard';
  var NCR = window.NCR = { views: {}, base: base, root: root };

  NCR.headers = function (extra) { var h = extra || {}; if (keyInput.value) h['X-API-Key'] = keyInput.value; return h; };
  NCR.el = function (tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  };
  NCR.cell = function (row, text, className) { var td = NCR.el('td', text, className); row.appendChild(td); return td; };
  NCR.clear = function (node) { node.textContent = ''; return node; };
  NCR.bytes = function (n) {
    if (n === null || n === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0; n = Number(n);
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : String(Math.round(n))) + ' ' + u[i];
  };
  NCR.when = function (iso) { if (!iso) return '–'; var d = new Date(iso); return isNaN(d.getTime()) ? String(iso) : d.toLocaleString(); };
  NCR.duration = function (ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000; if (s < 60) return s.toFixed(1) + ' s';
    var m = Math.floor(s / 60); if (m < 60) return m + ' min ' + Math.round(s % 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  };
  NCR.between = function (from, to) { if (!from) return null; var end = to ? Date.parse(to) : Date.now(); return end - Date.parse(from); };
  NCR.badge = function (state) { return NCR.el('span', state, 'badge ' + String(state).replace(/[^a-z]/g, '')); };
  NCR.href = function (path) { return root + '/' + path; };
  NCR.link = function (text, path) {
    var a = NCR.el('a', text); a.href = NCR.href(path);
    a.addEventListener('click', function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault(); NCR.go(path);
    });
    return a;
  };
  NCR.setNotice = function (text) { notice.textContent = text; };

  /** fetch JSON; on an HTTP error show the problem detail and reject. */
  NCR.api = function (method, path, body) {
    var init = { method: method, headers: NCR.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(base + path, init).then(function (response) {
      return response.text().then(function (text) {
        var json = null; try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!response.ok) {
          var message = 'HTTP ' + response.status + (json && json.title ? ' ' + json.title : '') + (json && (typeof json.detail === 'string' ? json.detail : json.message) ? ': ' + (typeof json.detail === 'string' ? json.detail : json.message) : '') + ' (' + method + ' ' + path.split('?')[0] + ')';
          // An action's problem stays on screen until the next action or key; background polls do not hide it.
          if (method !== 'GET') { actionFailed = true; notice.textContent = message; }
          else if (!actionFailed) notice.textContent = message;
          throw new Error(message);
        }
        if (method === 'GET' && !actionFailed) notice.textContent = '';
        return json;
      });
    });
  };
  NCR.button = function (label, action, after) {
    var b = NCR.el('button', label); b.type = 'button';
    b.addEventListener('click', function () {
      b.disabled = true;
      action().then(function () { actionFailed = false; notice.textContent = ''; }, function () {})
        .then(function () { b.disabled = false; if (after) after(); else NCR.refresh(); });
    });
    return b;
  };
  /** Run fn now and every ms while the current view is shown. */
  NCR.every = function (ms, fn) { fn(); timers.push(setInterval(fn, ms)); };
  /** Listen to task events while the current view is shown. */
  NCR.onEvent = function (fn) { listeners.push(fn); };
  NCR.refresh = function () { if (current && current.view.refresh) current.view.refresh(); };
  NCR.query = function (params) {
    return Object.keys(params).filter(function (k) { return params[k] !== '' && params[k] !== null && params[k] !== undefined; })
      .map(function (k) { return k + '=' + encodeURIComponent(params[k]); }).join('&');
  };
  NCR.table = function (headers) {
    var table = NCR.el('table'), thead = NCR.el('thead'), tr = NCR.el('tr'), tbody = NCR.el('tbody');
    headers.forEach(function (h) { tr.appendChild(NCR.el('th', h)); });
    thead.appendChild(tr); table.appendChild(thead); table.appendChild(tbody);
    return { table: table, head: tr, body: tbody };
  };

  var ROUTES = [
    { pattern: /^$/, view: 'overview' }, { pattern: /^tasks$/, view: 'tasks' },
    { pattern: /^tasks\/([^/]+)$/, view: 'task' }, { pattern: /^workers$/, view: 'workers' },
    { pattern: /^monitor$/, view: 'monitor' }, { pattern: /^batches$/, view: 'batches' },
    { pattern: /^batches\/([^/]+)$/, view: 'batch' }, { pattern: /^queue$/, view: 'queue' }
  ];
  function render() {
    timers.forEach(clearInterval); timers = []; listeners = [];
    if (current && current.view.leave) current.view.leave();
    var rest = location.pathname.indexOf(root) === 0 ? location.pathname.slice(root.length).replace(/^\/+|\/+$/g, '') : '';
    var route = ROUTES.filter(function (r) { return r.pattern.test(rest); })[0] || ROUTES[0];
    var match = route.pattern.exec(rest) || [];
    var param = match[1] ? decodeURIComponent(match[1]) : null;
    var view = NCR.views[route.view];
    document.querySelectorAll('header nav a').forEach(function (a) {
      a.className = a.getAttribute('data-view') === route.view.replace(/^task$/, 'tasks').replace(/^batch$/, 'batches') ? 'current' : '';
    });
    NCR.clear(main); main.setAttribute('data-view', route.view);
    current = { view: view, param: param };
    view.enter(main, param);
  }
  NCR.go = function (path) { history.pushState({}, '', NCR.href(path)); render(); };
  window.addEventListener('popstate', render);
  document.querySelectorAll('header nav a').forEach(function (a) {
    var path = a.getAttribute('data-path'); a.href = NCR.href(path);
    a.addEventListener('click', function (event) { if (event.button !== 0 || event.ctrlKey || event.metaKey) return; event.preventDefault(); NCR.go(path); });
  });

  var controller;
  function connect() {
    if (controller) controller.abort();
    controller = new AbortController();
    var mine = controller;
    fetch(base + 'events', { headers: NCR.headers(), signal: mine.signal }).then(function (response) {
      if (!response.ok) { stateText.textContent = 'events: HTTP ' + response.status; return; }
      stateText.textContent = 'live';
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = '';
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error('closed');
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split('\n\n'); buffer = parts.pop();
          parts.forEach(function (part) {
            var type = 'message', data = [];
            part.split('\n').forEach(function (l) { if (l.indexOf('event:') === 0) type = l.slice(6).trim(); else if (l.indexOf('data:') === 0) data.push(l.slice(5).replace(/^ /, '')); });
            if (type === 'gap') { NCR.refresh(); return; }
            if (type === 'task' && data.length) {
              var event; try { event = JSON.parse(data.join('\n')); } catch (e) { return; }
              listeners.slice().forEach(function (fn) { fn(event); });
            }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () { if (mine !== controller) return; stateText.textContent = 'reconnecting…'; setTimeout(function () { if (mine === controller) { connect(); NCR.refresh(); } }, 3000); });
  }
  $('key-form').addEventListener('submit', function (event) {
    event.preventDefault(); sessionStorage.setItem(KEY, keyInput.value); actionFailed = false; notice.textContent = ''; render(); connect();
  });
  NCR.start = function () { render(); connect(); };
})();
`;
