# syntax=docker/dockerfile:1.7
# ncr-upload: API and workers in one image. Build: docker build -t ncr-upload .

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/core/package.json packages/core/
COPY packages/redis-store/package.json packages/redis-store/
COPY packages/express-adapter/package.json packages/express-adapter/
COPY packages/worker-runner/package.json packages/worker-runner/
COPY packages/test-kit/package.json packages/test-kit/
RUN npm ci --no-audit --no-fund --workspaces --include-workspace-root
COPY packages ./packages
RUN npm run build --workspace @ncr-upload/core --workspace @ncr-upload/redis-store \
      --workspace @ncr-upload/express-adapter --workspace @ncr-upload/worker-runner \
  && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=8001 \
    DATA_DIR=/data \
    WORK_DIR=/tmp/ncr-upload
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/packages/core/package.json ./packages/core/
COPY --from=build --chown=node:node /app/packages/core/dist ./packages/core/dist
COPY --from=build --chown=node:node /app/packages/redis-store/package.json ./packages/redis-store/
COPY --from=build --chown=node:node /app/packages/redis-store/dist ./packages/redis-store/dist
COPY --from=build --chown=node:node /app/packages/express-adapter/package.json ./packages/express-adapter/
COPY --from=build --chown=node:node /app/packages/express-adapter/dist ./packages/express-adapter/dist
COPY --from=build --chown=node:node /app/packages/worker-runner/package.json ./packages/worker-runner/
COPY --from=build --chown=node:node /app/packages/worker-runner/dist ./packages/worker-runner/dist
RUN mkdir -p /data /tmp/ncr-upload && chown node:node /data /tmp/ncr-upload
USER node
EXPOSE 8001
VOLUME ["/data"]
# /live on WORKER_HEALTH_PORT for worker containers (when set), else on the API port.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.WORKER_HEALTH_PORT||process.env.API_PORT||8001)+'/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node is PID 1's child through tini-less exec form: SIGTERM reaches the CLI, which drains and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "packages/worker-runner/dist/cli.js"]
CMD ["serve"]
