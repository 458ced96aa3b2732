import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@ncr-upload\/core\/(.*)$/, replacement: here('./packages/core/src/$1/index.ts') },
      { find: /^@ncr-upload\/core$/, replacement: here('./packages/core/src/index.ts') },
      { find: /^@ncr-upload\/redis-store$/, replacement: here('./packages/redis-store/src/index.ts') },
      {
        find: /^@ncr-upload\/express-adapter$/,
        replacement: here('./packages/express-adapter/src/index.ts'),
      },
      { find: /^@ncr-upload\/worker-runner$/, replacement: here('./packages/worker-runner/src/index.ts') },
      { find: /^@ncr-upload\/test-kit\/(.*)$/, replacement: here('./packages/test-kit/src/$1.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' },
  },
});
