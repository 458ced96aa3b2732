import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createUploadRouter } from '@ncr-upload/express-adapter';
import { expect, it } from 'vitest';
import { createTestPipeline, silentLogger } from './helpers.js';

const run = promisify(execFile);
const deploy = new URL('../../../deploy/', import.meta.url);

/** Every `ncr_upload_*` metric name an expression uses (histogram suffixes stripped). */
const metricNames = (text: string) =>
  new Set([...text.matchAll(/\bncr_upload_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));

it('alert rules and the Grafana dashboard use metrics /metrics serves, and promtool accepts them', async () => {
  const rules = await readFile(new URL('prometheus/alerts.yml', deploy), 'utf8');
  const dashboard = JSON.parse(
    await readFile(new URL('grafana/ncr-upload-dashboard.json', deploy), 'utf8'),
  ) as {
    panels: { targets: { expr: string }[] }[];
  };
  const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));

  const test = await createTestPipeline();
  const router = createUploadRouter(test.pipeline, { logger: silentLogger });
  try {
    const served = metricNames(await (router.metricsRegistry?.metrics() ?? Promise.resolve('')));
    for (const name of [...metricNames(rules), ...metricNames(expressions.join('\n'))]) {
      expect(served, `${name} is used by an alert or a panel`).toContain(name);
    }
  } finally {
    router.close();
    await test.close();
  }

  // promtool (Debian's prometheus package) checks the rules, and the panels' queries as recording rules.
  const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
  try {
    const recording = [
      'groups:',
      '  - name: grafana-panels',
      '    rules:',
      ...expressions.flatMap((expr, index) => [
        `      - record: ncr_upload:panel_${index}`,
        `        expr: ${JSON.stringify(expr)}`,
      ]),
    ].join('\n');
    await writeFile(join(dir, 'panels.yml'), `${recording}\n`);
    const checked = await run('promtool', [
      'check',
      'rules',
      new URL('prometheus/alerts.yml', deploy).pathname,
      join(dir, 'panels.yml'),
    ]);
    expect(checked.stdout).toContain('SUCCESS: 6 rules found');
    expect(checked.stdout).toContain(`SUCCESS: ${expressions.length} rules found`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
