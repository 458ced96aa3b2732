import { createHash } from 'node:crypto';
import { clientCore } from './client-core.js';
import { consoleStyle } from './style.js';
import { viewBatches } from './view-batches.js';
import { viewMonitor } from './view-monitor.js';
import { viewOverview } from './view-overview.js';
import { viewTask } from './view-task.js';
import { viewTasks } from './view-tasks.js';
import { viewWorkers } from './view-workers.js';

/** An asset with its own ETag: the standalone app does not hash its answers (`etag` off). */
const asset = (type: string, body: string) => ({
  type,
  body,
  etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
});

/** The console's assets, served at `dashboard/assets/<name>`: the stylesheet and one script per view. */
export const DASHBOARD_ASSETS: Record<string, { type: string; body: string; etag: string }> = {
  'console.css': asset('text/css', consoleStyle),
  'core.js': asset('text/javascript', clientCore),
  'view-overview.js': asset('text/javascript', viewOverview),
  'view-tasks.js': asset('text/javascript', viewTasks),
  'view-task.js': asset('text/javascript', viewTask),
  'view-workers.js': asset('text/javascript', viewWorkers),
  'view-monitor.js': asset('text/javascript', viewMonitor),
  'view-batches.js': asset('text/javascript', viewBatches),
  'start.js': asset('text/javascript', 'window.NCR.start();\n'),
};

const SCRIPT_ORDER = [
  'core.js',
  'view-overview.js',
  'view-tasks.js',
  'view-task.js',
  'view-workers.js',
  'view-monitor.js',
  'view-batches.js',
  'start.js',
];

/** No inline script or style, nothing from another origin: job fields shown on the page can never run. */
export const DASHBOARD_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const NAV: [string, string, string][] = [
  ['overview', '', 'Overview'],
  ['tasks', 'tasks', 'Tasks'],
  ['workers', 'workers', 'Workers'],
  ['monitor', 'monitor', 'Monitor'],
  ['batches', 'batches', 'Batches'],
  ['queue', 'queue', 'Queue'],
];

/**
 * The console page: one HTML shell for every view (`dashboard`,
 * `dashboard/tasks/<id>`, ...). `base` leads from the page back to the router's
 * mount point, so the console works under any prefix; its scripts pick the view
 * from the URL.
 */
export function consolePage(base: string, title: string): string {
  const safeTitle = escapeHtml(title);
  const assets = `${escapeHtml(base)}dashboard/assets/`;
  const nav = NAV.map(
    ([view, path, label]) => `<a data-view="${view}" data-path="${path}" href="#">${label}</a>`,
  ).join('');
  return `<!doctype html>
<html lang="en" data-base="${escapeHtml(base)}"><head><meta charset="utf-8"><title>${safeTitle} · Console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${assets}console.css"></head><body>
<header><h1>${safeTitle}</h1><nav>${nav}</nav>
<form id="key-form"><label>API key <input id="key" type="password" autocomplete="off"></label> <button type="submit">Use key</button> <span id="state">connecting…</span></form></header>
<main><p id="notice" role="alert"></p><div id="view"></div></main>
${SCRIPT_ORDER.map((name) => `<script src="${assets}${name}"></script>`).join('\n')}
</body></html>`;
}
