import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  // `npm start` builds JavaScript only (scripts/build-changed.mjs); declarations are for publishing.
  dts: process.env.NCR_UPLOAD_BUILD !== 'js',
  clean: true,
  sourcemap: true,
  target: 'node20',
});
