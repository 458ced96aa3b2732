# ncr-upload: API and workers in one image. Build: docker build -t ncr-upload .
# No `# syntax=` line on purpose: it makes BuildKit fetch a frontend image from Docker Hub,
# which fails offline or air-gapped; the default frontend has everything used here.

# Base image; point it at a mirror or a local image with --build-arg NODE_IMAGE=...
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/core/package.json packages/core/
COPY packages/redis-store/package.json packages/redis-store/
COPY packages/express-adapter/package.json packages/express-adapter/
COPY packages/worker-runner/package.json packages/worker-runner/
COPY packages/test-kit/package.json packages/test-kit/
RUN npm ci --no-audit --no-fund --workspaces --include-workspace-root
COPY packages ./packages
# vitest is only an optional peer of core (its /testing contract suites); npm keeps it, and with it
# vite, tsx and esbuild (60 MB), in a production tree unless the peer entry goes first.
RUN npm run build --workspace @ncr-upload/core --workspace @ncr-upload/redis-store \
      --workspace @ncr-upload/express-adapter --workspace @ncr-upload/worker-runner \
  && npm pkg delete peerDependencies.vitest peerDependenciesMeta.vitest --workspace @ncr-upload/core \
  && npm prune --omit=dev --no-audit --no-fund \
  && rm -rf node_modules/@ncr-upload/test-kit packages/*/dist/*.map packages/*/dist/*.d.*ts

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=8001 \
    DATA_DIR=/data \
    WORK_DIR=/tmp/ncr-upload
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages/core/package.json ./packages/core/
COPY --from=build /app/packages/core/dist ./packages/core/dist
COPY --from=build /app/packages/redis-store/package.json ./packages/redis-store/
COPY --from=build /app/packages/redis-store/dist ./packages/redis-store/dist
COPY --from=build /app/packages/express-adapter/package.json ./packages/express-adapter/
COPY --from=build /app/packages/express-adapter/dist ./packages/express-adapter/dist
COPY --from=build /app/packages/worker-runner/package.json ./packages/worker-runner/
COPY --from=build /app/packages/worker-runner/dist ./packages/worker-runner/dist
# The code stays root-owned (read-only for the app); only /data and the temp folder belong to node.
RUN mkdir -p /data /tmp/ncr-upload && chown node:node /data /tmp/ncr-upload
USER node
EXPOSE 8001
VOLUME ["/data"]
# dist/probe.js imports only node:http, so a check costs one bare Node start (the full CLI loads
# the whole pipeline first: seconds on a busy host). /live on WORKER_HEALTH_PORT when set (worker
# containers), else on API_PORT. The 10 s timeout leaves room for a busy host (load 24 on 2 cores:
# a bare Node start took 3-5 s).
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "packages/worker-runner/dist/probe.js", "live"]
# Node runs as PID 1 in exec form: SIGTERM reaches the CLI, which drains and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "packages/worker-runner/dist/cli.js"]
CMD ["serve"]
# Last, so a new version rebuilds only this layer.
ARG APP_VERSION=dev
LABEL org.opencontainers.image.title="ncr-upload" org.opencontainers.image.version="${APP_VERSION}"
ENV NCR_UPLOAD_VERSION=${APP_VERSION}
