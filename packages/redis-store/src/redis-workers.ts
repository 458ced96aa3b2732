import {
  defaultWorkerControl,
  mergeWorkerControl,
  type TaskInsights,
  type WorkerControl,
  type WorkerHeartbeat,
  type WorkerView,
} from '@ncr-upload/core';
import { WORKER_FORGET_MS } from '@ncr-upload/core/internal';
import type { RedisClient } from './redis-client.js';

interface StoredHeartbeat extends WorkerHeartbeat {
  seen: number;
  expires: number;
}

const parse = <T>(raw: string | null | undefined): T | null => {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
};

/**
 * The worker directory on Redis: `p:cx:workers` (hash: id → last heartbeat),
 * `p:cx:control` (hash: id or `*` → the control operators set, persisted so a
 * worker that starts or reconnects later still obeys it) and `p:cx:wstat:<id>`
 * (counts kept by the task index). A worker reads its control in the same round
 * trip as its heartbeat, and every change is also published on
 * `p:cx:control-events` for workers that listen.
 */
export function createRedisWorkers(options: {
  client: RedisClient;
  prefix: string;
}): Pick<Required<TaskInsights>, 'reportWorker' | 'listWorkers' | 'controlWorkers' | 'removeWorker'> {
  const { client, prefix: p } = options;
  const workersKey = `${p}:cx:workers`;
  const controlKey = `${p}:cx:control`;

  return {
    async reportWorker(heartbeat, { ttlMs }) {
      const seen = Date.now();
      const stored: StoredHeartbeat = { ...heartbeat, seen, expires: seen + ttlMs };
      const [, controls] = (await client
        .pipeline()
        .hset(workersKey, heartbeat.id, JSON.stringify(stored))
        .hmget(controlKey, '*', heartbeat.id)
        .exec()) as [unknown, [Error | null, (string | null)[]]];
      if (controls[0]) throw controls[0];
      const [all, own] = controls[1];
      return mergeWorkerControl(parse<WorkerControl>(all), parse<WorkerControl>(own));
    },

    async listWorkers() {
      const entries = await client.hgetall(workersKey);
      const now = Date.now();
      const live: StoredHeartbeat[] = [];
      const forgotten: string[] = [];
      for (const [id, raw] of Object.entries(entries)) {
        const entry = parse<StoredHeartbeat>(raw);
        if (!entry || entry.seen < now - WORKER_FORGET_MS) forgotten.push(id);
        else live.push(entry);
      }
      if (forgotten.length > 0) await client.hdel(workersKey, ...forgotten);
      const pipeline = client.pipeline();
      pipeline.hget(controlKey, '*');
      for (const entry of live) {
        pipeline.hgetall(`${p}:cx:wstat:${entry.id}`);
        pipeline.hget(controlKey, entry.id);
      }
      const results = ((await pipeline.exec()) ?? []).map(([error, value]) => {
        if (error) throw error;
        return value;
      });
      const all = parse<WorkerControl>(results[0] as string | null);
      const views: WorkerView[] = live.map((entry, index) => {
        const stats = (results[1 + index * 2] ?? {}) as Record<string, string>;
        const own = parse<WorkerControl>(results[2 + index * 2] as string | null);
        const { seen, expires, ...heartbeat } = entry;
        return {
          ...heartbeat,
          seen_at: new Date(seen).toISOString(),
          online: expires >= now,
          processed: Number(stats.processed ?? 0),
          failed: Number(stats.failed ?? 0),
          last_task_id: stats.last_task_id ?? null,
          last_task_at: stats.last_task_at ?? null,
          control: mergeWorkerControl(all, own),
        };
      });
      return views.sort((a, b) => Number(b.online) - Number(a.online) || a.id.localeCompare(b.id));
    },

    async controlWorkers(target, change) {
      const updatedAt = new Date().toISOString();
      const current = await client.hgetall(controlKey);
      const writes: Record<string, string> = {};
      if (target === '*') {
        // Every worker: per-worker values of the changed fields give way to this one.
        for (const [id, raw] of Object.entries(current)) {
          const control = parse<WorkerControl>(raw);
          if (id === '*' || !control) continue;
          if (change.paused !== undefined) control.paused = false;
          if (change.concurrency !== undefined) control.concurrency = null;
          if (change.stop !== undefined) control.stop = false;
          writes[id] = JSON.stringify(control);
        }
      }
      const next: WorkerControl = {
        ...(parse<WorkerControl>(current[target]) ?? defaultWorkerControl()),
        ...Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)),
        updated_at: updatedAt,
      };
      writes[target] = JSON.stringify(next);
      await client
        .pipeline()
        .hset(controlKey, writes)
        .publish(`${p}:cx:control-events`, JSON.stringify({ target, at: updatedAt }))
        .exec();
      if (target === '*') return next;
      return mergeWorkerControl(parse<WorkerControl>(current['*']), next);
    },

    async removeWorker(workerId) {
      await client.pipeline().hdel(workersKey, workerId).hdel(controlKey, workerId).exec();
    },
  };
}
