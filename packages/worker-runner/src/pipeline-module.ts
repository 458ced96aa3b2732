import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Logger, type StatusStore, UploadError, type UploadPipeline } from '@ncr-upload/core';

/** What a pipeline module's `createPipeline(context)` receives. */
export interface PipelineModuleContext {
  /** `child`: inside a runner child process; `main`: the CLI's own process. */
  role: 'main' | 'child';
  /**
   * In a child process, the parent's status store (over IPC). Use it unless the
   * pipeline shares a store of its own (Redis): the parent and the API read task
   * state from it.
   */
  statusStore?: StatusStore;
  logger?: Logger;
}

/** A pipeline, or one with its own `close` that also releases the adapters it built. */
export type PipelineModuleResult = UploadPipeline | { pipeline: UploadPipeline; close?: () => Promise<void> };

/**
 * Load a module exporting `createPipeline(context)` (or a default export that is
 * such a function or a pipeline). Relative paths are resolved from the working directory.
 */
export async function loadPipelineModule(
  modulePath: string,
  context: PipelineModuleContext,
): Promise<{ pipeline: UploadPipeline; close: (options?: { timeoutMs?: number }) => Promise<void> }> {
  const url = modulePath.startsWith('file:')
    ? modulePath
    : pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(modulePath)).href;
  const loaded = (await import(url)) as { createPipeline?: unknown; default?: unknown };
  const factory = loaded.createPipeline ?? loaded.default;
  let result: unknown = factory;
  if (typeof factory === 'function')
    result = await (factory as (context: PipelineModuleContext) => unknown)(context);
  if (isPipeline(result)) {
    return { pipeline: result, close: (options) => result.close(options) };
  }
  if (result && typeof result === 'object' && isPipeline((result as { pipeline?: unknown }).pipeline)) {
    const built = result as {
      pipeline: UploadPipeline;
      close?: (options?: { timeoutMs?: number }) => Promise<void>;
    };
    return {
      pipeline: built.pipeline,
      close: (options) => (built.close ? built.close(options) : built.pipeline.close(options)),
    };
  }
  throw new UploadError(
    'CONFIG_INVALID',
    `The pipeline module ${modulePath} must export createPipeline() (or a default export) returning an upload pipeline.`,
  );
}

function isPipeline(value: unknown): value is UploadPipeline {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as UploadPipeline).runTask === 'function' &&
    typeof (value as UploadPipeline).submit === 'function'
  );
}
