import { createS3Catalog, createS3Storage } from '@ncr-upload/core/s3';
import { testCatalog, testStorage } from '@ncr-upload/core/testing';
import { startS3rver } from '@ncr-upload/test-kit/s3rver';

const BUCKET = 'contract-bucket';

async function seeded(objects: [key: string, body: Buffer][]) {
  const s3 = await startS3rver();
  try {
    await s3.createBucket(BUCKET);
    for (const [key, body] of objects) await s3.putObject(BUCKET, key, body);
  } catch (error) {
    await s3.stop();
    throw error;
  }
  return s3;
}

testStorage({
  name: 's3 (s3rver)',
  async create(files) {
    const s3 = await seeded(Object.entries(files));
    const client = s3.client();
    return { storage: createS3Storage({ client, bucket: BUCKET }), cleanup: () => s3.stop() };
  },
});

testStorage({
  name: 's3 (s3rver) with a key prefix and its own client',
  async create(files) {
    const s3 = await seeded(Object.entries(files).map(([key, body]) => [`tenant/one/${key}`, body]));
    return {
      storage: createS3Storage({ bucket: BUCKET, prefix: 'tenant/one/', clientOptions: s3.clientOptions() }),
      cleanup: () => s3.stop(),
    };
  },
});

testCatalog({
  name: 's3 prefix catalog (s3rver)',
  async create(fixtures) {
    const objects = fixtures.flatMap((fixture) =>
      fixture.files.map((file): [string, Buffer] => [file.key, Buffer.alloc(file.size, 0x61)]),
    );
    const s3 = await seeded(objects);
    return {
      catalog: createS3Catalog({ bucket: BUCKET, clientOptions: s3.clientOptions() }),
      cleanup: () => s3.stop(),
    };
  },
});
