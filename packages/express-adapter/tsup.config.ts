import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  // `npm start` builds JavaScript only (scripts/build-changed.mjs); declarations are for publishing.
  dts: process.env.NCR_UPLOAD_BUILD !== 'js',
  clean: true,
  sourcemap: true,
  target: 'node20',
  // import.meta.url (used to find the swagger-ui-dist and redoc files) in the CommonJS build.
  shims: true,
  // PACKAGE_VERSION (options.ts) is this package's version, written in at build time.
  define: { __NCR_UPLOAD_VERSION__: JSON.stringify(version) },
});
