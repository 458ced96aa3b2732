import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRequest } from '../job.js';
import type { Catalog } from '../ports/catalog.js';
import type { FileRef } from '../ports/file-ref.js';
import { makeJob } from './helpers.js';

/** One job and the files seeded for it. */
export interface CatalogFixture {
  job: JobRequest;
  files: { key: string; size: number }[];
}

export interface CatalogContractOptions {
  /** Shown in the describe block. */
  name: string;
  /**
   * A catalog that knows exactly these jobs and files (seed rows, folders or
   * objects as the implementation needs). Called once for the whole suite.
   */
  create: (fixtures: CatalogFixture[]) => Promise<{ catalog: Catalog; cleanup?: () => Promise<void> }>;
}

const byKey = (files: { key: string; size?: number | undefined }[]) =>
  files
    .map((file) => ({ key: file.key, size: file.size }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

/** Jobs sharing a user and campaign, so a catalog that filters too loosely is caught. */
function seedFixtures(): CatalogFixture[] {
  const shared = makeJob();
  const first = makeJob({ username: shared.username, campaign: shared.campaign, row_id: 1 });
  const second = makeJob({ username: shared.username, campaign: shared.campaign, row_id: 2 });
  const empty = makeJob({ username: shared.username, campaign: shared.campaign, row_id: 3 });
  const other = makeJob();
  const under = (job: JobRequest, name: string) => `${job.campaign}/${job.username}/${job.job_id}/${name}`;
  return [
    {
      job: first,
      files: [
        { key: under(first, 'front.jpg'), size: 1234 },
        { key: under(first, 'back.jpg'), size: 5678 },
        { key: under(first, 'docs/form with spaces é.pdf'), size: 42 },
      ],
    },
    { job: second, files: [{ key: under(second, 'only.png'), size: 9 }] },
    { job: empty, files: [] },
    { job: other, files: [{ key: under(other, 'elsewhere.txt'), size: 0 }] },
  ];
}

/**
 * The behaviour every `Catalog` must have. Call it at the top level of a test
 * file: `testCatalog({ name: 'mysql', create: async (fixtures) => ({ catalog, cleanup }) })`.
 */
export function testCatalog(options: CatalogContractOptions): void {
  describe(`Catalog contract: ${options.name}`, () => {
    const fixtures = seedFixtures();
    let catalog: Catalog;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const created = await options.create(fixtures);
      catalog = created.catalog;
      cleanup = created.cleanup;
    });

    afterAll(async () => {
      await catalog?.close?.();
      await cleanup?.();
    });

    it("returns each job's files with their sizes", async () => {
      for (const fixture of fixtures.filter((entry) => entry.files.length > 0)) {
        const files: FileRef[] = await catalog.listFiles(fixture.job);
        expect(byKey(files), fixture.job.job_id).toEqual(byKey(fixture.files));
      }
    });

    it('returns an empty list for a job without files', async () => {
      const empty = fixtures.find((entry) => entry.files.length === 0)!;
      expect(await catalog.listFiles(empty.job)).toEqual([]);
    });

    it("never returns another job's files", async () => {
      const seen = new Map<string, string>();
      for (const fixture of fixtures) {
        for (const file of await catalog.listFiles(fixture.job)) {
          expect(seen.get(file.key), `${file.key} listed for two jobs`).toBeUndefined();
          seen.set(file.key, fixture.job.job_id);
        }
      }
      expect(seen.size).toBe(fixtures.reduce((sum, fixture) => sum + fixture.files.length, 0));
    });

    it('honours an aborted signal or ignores it, but never returns wrong files', async () => {
      const controller = new AbortController();
      controller.abort();
      const fixture = fixtures[1]!;
      const outcome = await catalog.listFiles(fixture.job, { signal: controller.signal }).then(
        (files) => byKey(files),
        () => 'rejected' as const,
      );
      if (outcome !== 'rejected') expect(outcome).toEqual(byKey(fixture.files));
    });
  });
}
