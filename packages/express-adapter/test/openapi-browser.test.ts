import { createUploadRouter, type UploadRouter } from '@ncr-upload/express-adapter';
import { Validator } from '@seriousme/openapi-schema-validator';
import express from 'express';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestPipeline,
  keepOffline,
  type Listening,
  launchBrowser,
  listen,
  silentLogger,
  type TestPipeline,
} from './helpers.js';

interface OpenApiDocument {
  // biome-ignore lint/suspicious/noExplicitAny: operations are checked field by field
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
}

type PageGlobals = { document: { body: { innerText: string } } };

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** Every method and path registered on the router, in OpenAPI path syntax. */
function registeredRoutes(router: UploadRouter): { method: string; path: string }[] {
  return (router.stack as RouteLayer[]).flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods).map((method) => ({
          method,
          path: layer.route!.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
        }))
      : [],
  );
}

describe('OpenAPI document and docs pages, mounted at /uploads', () => {
  let test: TestPipeline;
  let router: UploadRouter;
  let server: Listening;
  let browser: Browser;

  beforeAll(async () => {
    test = await createTestPipeline({}, { start: false });
    router = createUploadRouter(test.pipeline, { logger: silentLogger, apiKey: 'k' });
    const app = express();
    app.use('/uploads', router);
    server = await listen(app);
  });
  afterAll(async () => {
    await browser?.close();
    router.close();
    await server.close();
    await test.close();
  });

  it('is a valid OpenAPI 3.1 document documenting every registered route', async () => {
    const document = (await (await fetch(`${server.url}/uploads/openapi.json`)).json()) as OpenApiDocument;
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    const routes = registeredRoutes(router);
    expect(routes.length).toBeGreaterThanOrEqual(20);
    for (const { method, path } of routes) {
      expect(document.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    }
    for (const path of [
      '/',
      '/process-job',
      '/job-status/{task_id}',
      '/health',
      '/jobs/active',
      '/process-batch',
    ]) {
      expect(document.paths[path]).toBeDefined();
    }
    for (const path of [
      '/batch-status/{batch_id}',
      '/memory-stats',
      '/celery-stats',
      '/worker-stats',
      '/events',
    ]) {
      expect(document.paths[path]).toBeDefined();
    }
    expect(document.paths['/process-job']!.post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/JobRequest',
    });
    expect(document.paths['/process-job']!.post.security).toEqual([{ ApiKeyHeader: [] }, { BearerKey: [] }]);
    expect(document.paths['/health']!.get.security).toEqual([]);
    expect(document.components.schemas.TaskRecord!.properties.state!.enum).toContain('succeeded');
  });

  it('Swagger UI, ReDoc and the dashboard render in a browser without internet', async () => {
    browser = await launchBrowser();
    const page = await browser.newPage();
    const outside: string[] = [];
    await keepOffline(page, outside);
    // Warnings and errors the pages print; ReDoc's footer logo is blocked on purpose by its page's CSP.
    const complaints: string[] = [];
    page.on('console', (message) => {
      if (
        ['warning', 'error'].includes(message.type()) &&
        !message.text().includes('Content Security Policy')
      )
        complaints.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => complaints.push(`pageerror: ${error.message}`));
    const hasText = (text: string) =>
      page.waitForFunction(
        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
        (wanted) => (globalThis as unknown as PageGlobals).document.body.innerText.includes(wanted),
        text,
        { timeout: 30_000 },
      );

    await page.goto(`${server.url}/uploads/docs`);
    await hasText('/process-job');
    await hasText('/job-status/{task_id}');
    // Swagger UI shows problems with the document (such as an unsupported jsonSchemaDialect) in a red box.
    const swaggerWarnings = await page.evaluate(
      () =>
        (
          globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }
        ).document.querySelectorAll('.errors-wrapper, .swagger-ui .errors').length,
    );
    expect(swaggerWarnings).toBe(0);

    await page.goto(`${server.url}/uploads/redoc`);
    await hasText('/process-job');
    await hasText('Submit a job');

    expect(complaints).toEqual([]);

    await page.goto(`${server.url}/uploads/dashboard`);
    await hasText('Active jobs');
    expect(outside).toEqual([]);
  });
});
