import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    cli: 'src/cli.ts',
    probe: 'src/probe.ts',
    'child-entry': 'src/child-entry.ts',
  },
  format: ['esm', 'cjs'],
  // `npm start` builds JavaScript only (scripts/build-changed.mjs); declarations are for publishing.
  dts: process.env.NCR_UPLOAD_BUILD === 'js' ? false : { entry: { index: 'src/index.ts' } },
  clean: true,
  // import.meta.url in the CommonJS build (the runner finds child-entry.js next to itself).
  shims: true,
  sourcemap: true,
  target: 'node20',
});
