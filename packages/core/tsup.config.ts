import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'fs/index': 'src/fs/index.ts',
    's3/index': 'src/s3/index.ts',
    'sftp/index': 'src/sftp/index.ts',
    // The streamed SFTP upload's worker thread (found next to the destination's code at run time).
    'sftp/upload-worker': 'src/sftp/upload-worker.ts',
    'http-validator/index': 'src/http-validator/index.ts',
    'mysql/index': 'src/mysql/index.ts',
    'testing/index': 'src/testing/index.ts',
    'internal/index': 'src/internal/index.ts',
  },
  format: ['esm', 'cjs'],
  // `npm start` builds JavaScript only (scripts/build-changed.mjs); declarations are for publishing.
  dts: process.env.NCR_UPLOAD_BUILD !== 'js',
  clean: true,
  // import.meta.url in the CommonJS build (the SFTP destination finds its upload thread's program).
  shims: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
});
