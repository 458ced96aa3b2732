import { JobRequestSchema, type UploadPipeline } from '@ncr-upload/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { UploadMetrics } from './metrics.js';
import { parse, submitAnswer } from './routes-jobs.js';

/** Content types the lean path reads itself; any other (a charset other than UTF-8, `+json`) goes to the JSON parser. */
const PLAIN_JSON = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
]);
const JSON_TYPE = 'application/json; charset=utf-8';
const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A body limit (`1mb`, `512kb`, bytes) in bytes, as the JSON parser reads it; 0 when it cannot be read (the lean path is then off). */
export function limitInBytes(limit: number | string): number {
  if (typeof limit === 'number') return Number.isFinite(limit) && limit > 0 ? limit : 0;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) return 0;
  return Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

/** An error the problem handler answers as the JSON parser's own (400 malformed JSON, 400 aborted). */
const parserError = (message: string, type: string) =>
  Object.assign(new Error(message), { status: 400, type });

export interface SubmitRouteOptions {
  pipeline: UploadPipeline;
  /** The route's path, for the metric label. */
  path: string;
  /** Largest body, as the router's JSON parser takes it. */
  bodyLimit: number | string;
  metrics: UploadMetrics | null;
  /** The API-key check when the route's group requires one. */
  authenticate: RequestHandler | null;
  /** The general chain: the JSON parser, the body check and the route's own handler. */
  general: RequestHandler[];
}

/**
 * `POST /process-job` on a lean path: the common request (a plain JSON body
 * with a Content-Length within the limit) is read, validated (zod), admitted
 * and stored by one pipeline call, and answered with one write, without the
 * general parser, the per-route middleware or Express's `send`. Every other
 * request (another content type or charset, an encoded, chunked, empty or too
 * large body) takes the general chain, so its answer is the same as before.
 * Errors go to the router's problem handler either way.
 */
export function leanSubmitHandler(options: SubmitRouteOptions): RequestHandler {
  const { pipeline, metrics, authenticate, general } = options;
  const limit = limitInBytes(options.bodyLimit);
  const observe = (response: Response, started: number) => {
    metrics?.observeRequest(
      { method: 'POST', route: options.path, status: response.statusCode },
      (performance.now() - started) / 1000,
    );
  };
  const fail = (response: Response, next: NextFunction, started: number, error: unknown) => {
    if (metrics) response.once('finish', () => observe(response, started));
    next(error);
  };

  const answer = async (response: Response, next: NextFunction, body: unknown, started: number) => {
    try {
      const job = parse(JobRequestSchema, body, 'body');
      const text = JSON.stringify(submitAnswer(job.job_id, await pipeline.submit(job)));
      response.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
      response.end(text);
      if (metrics) observe(response, started);
    } catch (error) {
      fail(response, next, started, error);
    }
  };

  const runGeneral = (request: Request, response: Response, next: NextFunction, started: number) => {
    if (metrics) response.once('finish', () => observe(response, started));
    let index = 0;
    const step = (error?: unknown) => {
      if (error !== undefined && error !== null) return next(error);
      const handler = general[index++];
      if (!handler) return next();
      try {
        const returned = handler(request, response, step) as unknown;
        if (returned instanceof Promise) returned.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };

  const readBody = (request: Request, response: Response, next: NextFunction, started: number) => {
    const headers = request.headers;
    const length = Number(headers['content-length']);
    const type = headers['content-type'];
    const plain =
      length > 0 &&
      length <= limit &&
      type !== undefined &&
      PLAIN_JSON.has(type.toLowerCase()) &&
      headers['content-encoding'] === undefined &&
      headers['transfer-encoding'] === undefined;
    if (!plain) return runGeneral(request, response, next, started);
    const chunks: Buffer[] = [];
    let failed = false;
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.once('error', () => {
      failed = true;
      fail(response, next, started, parserError('request aborted', 'request.aborted'));
    });
    request.once('end', () => {
      if (failed) return;
      const raw = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
      // The JSON parser drops a byte order mark too.
      const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return fail(response, next, started, parserError('malformed JSON', 'entity.parse.failed'));
      }
      void answer(response, next, body, started);
    });
  };

  return (request, response, next) => {
    const started = performance.now();
    if (!authenticate) return readBody(request, response, next, started);
    authenticate(request, response, (error?: unknown) => {
      if (error) return fail(response, next, started, error);
      readBody(request, response, next, started);
    });
  };
}
