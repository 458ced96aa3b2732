import type { Request } from 'express';
import { consolePage, DASHBOARD_ASSETS, DASHBOARD_POLICY } from './dashboard/page.js';
import type { ResolvedOptions } from './options.js';
import { HttpProblem } from './problem.js';
import type { RouteSpec } from './route-spec.js';

const html = 'text/html';

/** How many levels below the mount point a console page is (`/dashboard/tasks/x` is two). */
const consoleBase = (request: Request) => '../'.repeat(Math.max(0, request.path.split('/').length - 2));

/** The console's page and assets (`/dashboard...`); the API it reads is in routes-console.ts. */
export function dashboardRoutes(options: ResolvedOptions): RouteSpec[] {
  const routes: RouteSpec[] = [];
  // Assets first: `/dashboard/:view/:id` would match them too.
  routes.push({
    method: 'get',
    path: '/dashboard/assets/:name',
    group: 'docs',
    operationId: 'consoleAsset',
    summary: 'A script or stylesheet of the console',
    tags: ['service'],
    responses: { 200: { description: 'The asset.', contentType: 'text/javascript' } },
    handler(request, response, next) {
      const name = String(request.params.name);
      const asset = Object.hasOwn(DASHBOARD_ASSETS, name) ? DASHBOARD_ASSETS[name] : undefined;
      if (!asset) return next(new HttpProblem(404, 'not-found', `No console asset ${name}.`));
      response.setHeader('Cache-Control', 'no-cache');
      response.setHeader('ETag', asset.etag);
      response.type(asset.type).send(asset.body);
    },
  });
  const page: RouteSpec['handler'] = (request, response) => {
    response.setHeader('Content-Security-Policy', DASHBOARD_POLICY);
    response.type('html').send(consolePage(consoleBase(request), options.serviceName));
  };
  for (const [path, operationId, summary] of [
    ['/dashboard', 'dashboard', 'Operations console: overview'],
    ['/dashboard/:view', 'dashboardView', 'Operations console: tasks, workers, monitor, batches or queue'],
    ['/dashboard/:view/:id', 'dashboardItem', 'Operations console: one task or one batch'],
  ] as const) {
    routes.push({
      method: 'get',
      path,
      group: 'docs',
      operationId,
      summary,
      description:
        'The page reads the API with the key you enter (kept in sessionStorage, sent in X-API-Key).',
      tags: ['service'],
      responses: { 200: { description: 'HTML page.', contentType: html } },
      handler: page,
    });
  }
  return routes;
}
