import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Request } from 'express';

const require = createRequire(import.meta.url);

/** Folder of the installed swagger-ui-dist package (served at `docs/assets/`). */
export const swaggerUiDirectory = () => dirname(require.resolve('swagger-ui-dist/package.json'));
/** Folder of redoc's browser bundles (served at `redoc/assets/`). */
export const redocDirectory = () => dirname(require.resolve('redoc/bundles/redoc.standalone.js'));

/**
 * Prefix that turns a link relative to the router's mount point into one
 * relative to the current page: pages are served at `/docs` (no slash: links
 * resolve against the mount folder) or `/docs/` (one level deeper).
 */
export const relativeBase = (request: Request) => (request.path.endsWith('/') ? '../' : '');

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

export function swaggerPage(base: string, title: string): string {
  const json = JSON.stringify(`${base}openapi.json`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Swagger UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="${base}docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: ${json}, dom_id: '#swagger-ui', deepLinking: true });</script>
</body></html>`;
}

export function redocPage(base: string, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style></head>
<body><redoc spec-url="${base}openapi.json"></redoc>
<script src="${base}redoc/assets/redoc.standalone.js"></script>
</body></html>`;
}
