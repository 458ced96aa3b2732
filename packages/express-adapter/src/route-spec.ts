import type { UploadPipeline } from '@ncr-upload/core';
import type { RequestHandler } from 'express';
import type { z } from 'zod';
import type { EventStreams } from './events.js';
import type { UploadMetrics } from './metrics.js';
import type { OpenApiBuilder } from './openapi.js';
import type { AuthGroup, ResolvedOptions } from './options.js';

export interface ResponseSpec {
  description: string;
  /** Zod schema of the body; documented as `application/json` unless `contentType` says otherwise. */
  schema?: z.ZodType;
  contentType?: string;
  example?: unknown;
  /** Response headers worth documenting, by name. */
  headers?: Record<string, string>;
}

/**
 * One HTTP route: the router registers it and `/openapi.json` documents it
 * from the same object, so the two cannot drift apart.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'delete';
  /** Express path, relative to the mount point (`/job-status/:task_id`). */
  path: string;
  group: AuthGroup;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  body?: { schema: z.ZodType; description: string; example?: unknown };
  query?: z.ZodObject;
  params?: z.ZodObject;
  responses: Record<number, ResponseSpec>;
  handler: RequestHandler;
}

export interface RouteContext {
  pipeline: UploadPipeline;
  options: ResolvedOptions;
  events: EventStreams;
  metrics: UploadMetrics | null;
  openapi: OpenApiBuilder;
}
