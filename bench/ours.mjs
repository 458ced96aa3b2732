// One job through @ncr-upload/core (built dist) with the real adapters:
// S3 → zip → HTTP validator → SFTP. Run by bench/run.ts under /usr/bin/time;
// prints one JSON line with timings, stage durations and peak RSS.
import { S3Client } from '@aws-sdk/client-s3';
import { createUploadPipeline } from '@ncr-upload/core';
import { createHttpValidator } from '@ncr-upload/core/http-validator';
import { createS3Catalog, createS3Storage, s3ClientOptionsForCompatible } from '@ncr-upload/core/s3';
import { createSftpDestination } from '@ncr-upload/core/sftp';

const config = JSON.parse(process.env.NCR_BENCH_CONFIG ?? '{}');
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const client = new S3Client(
  s3ClientOptionsForCompatible({
    endpoint: config.s3.endpoint,
    region: 'us-east-1',
    accessKeyId: config.s3.accessKeyId,
    secretAccessKey: config.s3.secretAccessKey,
  }),
);
const storage = createS3Storage({ client, bucket: config.s3.bucket });
const destination = createSftpDestination({ ...config.sftp });
const pipeline = createUploadPipeline({
  storage,
  catalog: createS3Catalog({ storage, prefix: () => config.prefix }),
  validator: createHttpValidator({ url: config.validatorUrl, mode: 'raw' }),
  destination,
  remotePath: () => config.remotePath,
  workDir: config.workDir,
  compressionLevel: config.compressionLevel ?? 0,
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
const { task_id } = await pipeline.submit(config.job);
const record = await pipeline.waitFor(task_id, { timeoutMs: 3_600_000 });
const finished = performance.now();
clearInterval(sampler);
const durations = {};
for (const [index, entry] of stages.entries()) {
  const end = stages[index + 1]?.at ?? finished;
  durations[entry.stage] = Math.round(end - entry.at);
}
await pipeline.close({ timeoutMs: 1000 });
await destination.close();
client.destroy();
console.log(
  JSON.stringify({
    state: record.state,
    error: record.error,
    seconds: (finished - started) / 1000,
    stages: durations,
    bytes: record.result?.size ?? 0,
    sha256: record.result?.sha256 ?? null,
    peak_rss_mb: Math.round(peakRss / 1048576),
  }),
);
