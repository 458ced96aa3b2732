import type { TaskEvent, UploadPipeline } from '@ncr-upload/core';
import type { RequestHandler } from 'express';
import { validationProblem } from './problem.js';
import { EventQuerySchema } from './schemas.js';

export interface EventStreams {
  handler: RequestHandler;
  /** Streams open now. */
  size(): number;
  /** End every open stream (router close, shutdown). */
  closeAll(): void;
}

/**
 * `GET /events`: Server-Sent Events of task events (`event: task`, JSON data),
 * optionally narrowed by `task_id`, `job_id` or `batch_id`; a comment line every
 * `heartbeatMs` keeps proxies from closing idle streams. Each client's
 * subscription and timer end when it disconnects. A client too slow to keep up
 * gets an `event: gap` with the number of events it missed instead of an
 * unbounded buffer on the server.
 */
export function createEventStreams(pipeline: UploadPipeline, options: { heartbeatMs: number }): EventStreams {
  const open = new Set<() => void>();
  let sequence = 0;

  const handler: RequestHandler = (request, response, next) => {
    const query = EventQuerySchema.safeParse(request.query);
    if (!query.success) return next(validationProblem(query.error, 'query', request.query));
    const filter = query.data;
    const matches = (event: TaskEvent) =>
      (!filter.task_id || event.task_id === filter.task_id) &&
      (!filter.job_id || event.job_id === filter.job_id) &&
      (!filter.batch_id || event.batch_id === filter.batch_id);

    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    request.socket.setNoDelay(true);
    response.write('retry: 3000\n: connected\n\n');

    // A client that reads slower than events come must not make the server buffer without bound:
    // while its socket is full, events for it are dropped and counted, then one `gap` event says
    // how many were missed (refetch /jobs/active to resync).
    let dropped = 0;
    let full = false;
    const send = (chunk: string) => {
      if (!response.write(chunk)) full = true;
    };
    response.on('drain', () => {
      full = false;
      if (dropped > 0) {
        send(`event: gap\ndata: ${JSON.stringify({ dropped })}\n\n`);
        dropped = 0;
      }
    });
    const unsubscribe = pipeline.subscribe((event) => {
      if (!matches(event)) return;
      if (full) {
        dropped += 1;
        return;
      }
      sequence += 1;
      send(`id: ${sequence}\nevent: task\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const heartbeat = setInterval(() => {
      if (!full) send(`: heartbeat ${new Date().toISOString()}\n\n`);
    }, options.heartbeatMs);
    heartbeat.unref();

    let closed = false;
    const cleanup = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(end);
    };
    const end = () => {
      cleanup();
      response.end();
    };
    open.add(end);
    request.on('close', cleanup);
    response.on('close', cleanup);
  };

  return {
    handler,
    size: () => open.size,
    closeAll() {
      for (const end of [...open]) end();
    },
  };
}
