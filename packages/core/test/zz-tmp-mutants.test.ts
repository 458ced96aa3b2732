import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createMemoryStatusStore } from '../src/memory-status-store.js';
import { createMemoryQueue } from '../src/memory-queue.js';
import { testJobQueue, testStatusStore, testStorage } from '../src/testing/index.js';
import { UploadError } from '../src/errors.js';

testStorage({
  name: 'MUTANT ignores signal',
  async create(files) {
    const root = await mkdtemp(join(tmpdir(), 'st-'));
    for (const [key, body] of Object.entries(files)) {
      await mkdir(dirname(join(root, key)), { recursive: true });
      await writeFile(join(root, key), body);
    }
    return {
      storage: {
        async open(file) {
          if (!Object.hasOwn(files, file.key)) throw new UploadError('FILE_NOT_FOUND', 'x');
          return { stream: createReadStream(join(root, file.key)), size: files[file.key]!.length };
        },
      },
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
});
testStatusStore({
  name: 'MUTANT non-atomic create',
  async create() {
    const store = createMemoryStatusStore();
    return {
      ...store,
      async createTask(record) {
        const existing = await store.findActiveByJobId(record.job_id);
        await new Promise((r) => setTimeout(r, 1));
        if (existing) return { record: existing, created: false };
        await store.updateTask('x', {});
        return store.createTask({ ...record, job_id: `${record.job_id}` , job: { ...record.job } }).then(async (r) => r.created ? r : r);
      },
    };
  },
});
testJobQueue({
  name: 'MUTANT unbounded',
  async create() {
    const queue = createMemoryQueue();
    return { ...queue, process: (h) => queue.process(h, { concurrency: 50 }) };
  },
});
