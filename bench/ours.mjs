// One job through @ncr-upload/core (built dist) with the real adapters:
// S3 → zip → HTTP validator → SFTP. Run by bench/run.ts under /usr/bin/time;
// prints one JSON line with timings, stage durations and peak RSS.
import { S3Client } from '@aws-sdk/client-s3';
import { createUploadPipeline } from '@ncr-upload/core';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { createS3Catalog, createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { createSftpDestination } from '@ncr-upload/core/sftp';

const config = JSON.parse(process.env.NCR_BENCH_CONFIG ?? '{}');
let peakRss = process.memoryUsage.rss();
config.sftp.uploadThread = config.uploadThread === true;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);
// What the memory is at the highest RSS seen, 4 times a second (memoryUsage() walks the heap's
// spaces: cheap at this rate, not at the sampler's).
let peakBreakdown = { rss: 0 };
let peakAt = 0;
const breakdown = setInterval(() => {
  const usage = process.memoryUsage();
  if (usage.rss > peakBreakdown.rss) {
    peakBreakdown = usage;
    peakAt = performance.now();
  }
}, 250);

const client = new S3Client(
  s3ClientOptionsForCompatible({
    endpoint: config.s3.endpoint,
    region: 'us-east-1',
    accessKeyId: config.s3.accessKeyId,
    secretAccessKey: config.s3.secretAccessKey,
  }),
);

// Each stage's first start and last end, taken at the adapters (the stages of one pass overlap, and the
// store's stage field is written at most once per progress interval).
const spans = {};
/** Milliseconds the pass waited on each receiver (they overlap: the slowest sets the pace). */
const waits = { sftp: 0, validator: 0 };
const mark = (name, edge) => {
  const now = performance.now();
  spans[name] ??= { start: now, end: now };
  const span = spans[name];
  if (edge === 'start') span.start = Math.min(span.start, now);
  else span.end = Math.max(span.end, now);
};
const s3Storage = createS3Storage({ client, bucket: config.s3.bucket });
const storage = {
  ...s3Storage,
  async open(file, options) {
    mark('fetch', 'start');
    const opened = await s3Storage.open(file, options);
    opened.stream.once('end', () => mark('fetch', 'end'));
    return opened;
  },
};
const httpValidator = createHttpValidator({ url: config.validatorUrl, mode: 'raw' });
const validator = {
  ...httpValidator,
  async validateStream(input, job, options) {
    mark('validate', 'start');
    input.complete.then(() => mark('zip', 'end')).catch(() => undefined);
    // How long the validator's request body stayed full (a write refused until 'drain'): the time
    // the pass waited on the validator's receiving end.
    const body = input.stream;
    const write = body.write.bind(body);
    body.write = (...args) => {
      const accepted = write(...args);
      if (!accepted) {
        const from = performance.now();
        body.once('drain', () => {
          waits.validator += performance.now() - from;
        });
      }
      return accepted;
    };
    try {
      return await httpValidator.validateStream(input, job, options);
    } finally {
      mark('validate', 'end');
    }
  },
};
const sftp = createSftpDestination({ ...config.sftp });
const destination = {
  ...sftp,
  async beginUpload(remotePath, options) {
    mark('upload', 'start');
    const session = await sftp.beginUpload(remotePath, options);
    return {
      async write(chunk) {
        mark('zip', 'start');
        const from = performance.now();
        await session.write(chunk);
        waits.sftp += performance.now() - from;
      },
      async commit(summary) {
        mark('commit', 'start');
        try {
          return await session.commit(summary);
        } finally {
          mark('commit', 'end');
          mark('upload', 'end');
        }
      },
      abort: () => session.abort(),
    };
  },
};
const pipeline = createUploadPipeline({
  storage,
  catalog: createS3Catalog({ storage, prefix: () => config.prefix }),
  validator,
  destination,
  remotePath: () => config.remotePath,
  workDir: config.workDir,
  compressionLevel: config.compressionLevel ?? 0,
  ...(config.compression ? { compression: config.compression } : {}),
  fetchConcurrency: config.fetchConcurrency ?? 4,
  retry: { attempts: 1 },
});

const stages = [];
pipeline.subscribe((event) => {
  const last = stages.at(-1);
  if (event.stage && last?.stage !== event.stage) stages.push({ stage: event.stage, at: performance.now() });
});
await pipeline.start();
const started = performance.now();
const loopBefore = performance.eventLoopUtilization();
const cpuBefore = process.cpuUsage();
const { task_id } = await pipeline.submit(config.job);
const record = await pipeline.waitFor(task_id, { timeoutMs: 3_600_000 });
const finished = performance.now();
const loop = performance.eventLoopUtilization(loopBefore);
const cpu = process.cpuUsage(cpuBefore);
clearInterval(sampler);
clearInterval(breakdown);
const timeline = {};
for (const [name, span] of Object.entries(spans)) {
  timeline[name] = [Math.round(span.start - started), Math.round(span.end - started)];
}
const durations = {};
for (const [index, entry] of stages.entries()) {
  const end = stages[index + 1]?.at ?? finished;
  durations[entry.stage] = Math.round(end - entry.at);
}
await pipeline.close({ timeoutMs: 1000 });
await sftp.close();
client.destroy();
console.log(
  JSON.stringify({
    state: record.state,
    error: record.error,
    seconds: (finished - started) / 1000,
    stages: durations,
    timeline,
    main_thread_busy: loop.utilization,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    bytes: record.result?.size ?? 0,
    sha256: record.result?.sha256 ?? null,
    peak_rss_mb: Math.round(peakRss / 1048576),
    at_peak_s: (peakAt - started) / 1000,
    waited_s: { sftp: waits.sftp / 1000, validator: waits.validator / 1000 },
    at_peak_mb: Object.fromEntries(
      Object.entries(peakBreakdown).map(([name, bytes]) => [name, Math.round(bytes / 1048576)]),
    ),
  }),
);
