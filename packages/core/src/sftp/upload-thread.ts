import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UploadError } from '../errors.js';
import type { Logger } from '../pipeline-types.js';
import type { BeginUploadOptions, DeliveryReceipt, UploadSession } from '../ports/destination.js';
import { abortError } from './errors.js';
import type { SftpDestinationOptions } from './options.js';
import {
  deserializeError,
  type FromUploadThread,
  type ToUploadThread,
  type UploadThreadSetup,
} from './upload-thread-protocol.js';

/**
 * Bytes a streamed upload may have handed to the upload thread that it has
 * not taken yet; `write` waits above this (backpressure from the server
 * through the thread).
 */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Buffers that carry chunks to the thread come back with the ack and are reused; at least this size. */
const CARRIER_BYTES = 1024 * 1024;
/** Spare carriers kept (the rest are left to the garbage collector). */
const MAX_SPARE_CARRIERS = 8;

/** Streamed uploads run by a worker thread. */
export interface UploadThread {
  beginUpload(remotePath: string, options: BeginUploadOptions): Promise<UploadSession>;
  close(): Promise<void>;
}

interface SessionState {
  queued: number;
  failure: Error | undefined;
  waiters: (() => void)[];
  onProgress: ((bytes: number) => void) | undefined;
}

/** How to start the upload thread: a file, or (from source) a script that loads the TypeScript first. */
export interface UploadWorkerEntry {
  filename: string;
  eval: boolean;
}

/** The thread's program: `upload-worker.js` next to this file (or under `sftp/` of a bundle), `.ts` from source. */
export function uploadWorkerEntry(): UploadWorkerEntry | undefined {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source (tests, development): register the TypeScript loader inside the thread, then load it.
    const loader = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href.replace(/\.c?js$/, '.mjs');
    const program = new URL('./upload-worker.ts', here).href;
    return {
      filename: `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(program)}); });`,
      eval: true,
    };
  }
  for (const candidate of ['./upload-worker.js', './sftp/upload-worker.js', '../sftp/upload-worker.js']) {
    const path = fileURLToPath(new URL(candidate, here));
    if (existsSync(path)) return { filename: path, eval: false };
  }
  return undefined;
}

function threadGone(reason: string): UploadError {
  return new UploadError('CONNECTION_ERROR', `The SFTP upload thread stopped: ${reason}.`, {
    stage: 'deliver',
    retryable: true,
  });
}

/**
 * Runs `beginUpload` sessions on one worker thread, started on the first
 * upload and kept (unreferenced while idle, so it never holds the process
 * open) with its own connection pool. Chunks are copied into fresh buffers
 * and transferred, not cloned; errors come back as the same UploadErrors.
 */
export function createUploadThread(
  input: SftpDestinationOptions,
  entry: UploadWorkerEntry,
  logger: Logger | undefined,
): UploadThread {
  const options: UploadThreadSetup['options'] = { ...input };
  delete (options as SftpDestinationOptions).logger;
  let worker: Worker | undefined;
  let nextCall = 1;
  let nextSession = 1;
  const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const sessions = new Map<number, SessionState>();
  /**
   * Spare buffers for chunks on their way to the thread. Reusing them keeps
   * the memory flat: a fresh buffer per chunk is garbage the thread's
   * collector only frees once tens of MB of it have piled up.
   */
  const spare: ArrayBuffer[] = [];
  const carrier = (length: number): ArrayBuffer => {
    const index = spare.findIndex((buffer) => buffer.byteLength >= length);
    if (index >= 0) return spare.splice(index, 1)[0] as ArrayBuffer;
    return new ArrayBuffer(Math.max(length, CARRIER_BYTES));
  };

  const wake = (state: SessionState) => {
    const waiting = state.waiters;
    state.waiters = [];
    for (const resolve of waiting) resolve();
  };

  /** Keep the process alive while a session or a call is open; not for a thread that only holds idle connections. */
  const hold = () => {
    if (sessions.size > 0 || calls.size > 0) worker?.ref();
    else worker?.unref();
  };

  const onMessage = (message: FromUploadThread) => {
    switch (message.type) {
      case 'reply': {
        const pending = calls.get(message.call);
        calls.delete(message.call);
        hold();
        if (message.ok) pending?.resolve(message.value);
        else pending?.reject(deserializeError(message.error));
        break;
      }
      case 'ack': {
        if (spare.length < MAX_SPARE_CARRIERS) spare.push(message.data);
        const state = sessions.get(message.id);
        if (!state) break;
        state.queued -= message.bytes;
        if (message.error) state.failure ??= deserializeError(message.error);
        wake(state);
        break;
      }
      case 'progress':
        sessions.get(message.id)?.onProgress?.(message.bytes);
        break;
      case 'log':
        logger?.[message.level](message.fields, message.message);
        break;
    }
  };

  const stopped = (current: Worker, reason: string) => {
    if (worker !== current) return;
    worker = undefined;
    const error = threadGone(reason);
    for (const pending of calls.values()) pending.reject(error);
    calls.clear();
    for (const state of sessions.values()) {
      state.failure ??= error;
      wake(state);
    }
  };

  const start = (): Worker => {
    if (worker) return worker;
    const setup: UploadThreadSetup = { options };
    const started = new Worker(entry.filename, {
      workerData: setup,
      eval: entry.eval,
    });
    started.on('message', onMessage);
    started.on('error', (error) => stopped(started, error.message));
    started.on('exit', (code) => stopped(started, `exit code ${code}`));
    started.unref();
    worker = started;
    return started;
  };

  const send = (message: ToUploadThread, transfer?: ArrayBuffer[]) => {
    if (!worker) throw threadGone('not running');
    worker.postMessage(message, transfer);
  };
  const call = <T>(message: ToUploadThread): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      calls.set((message as { call: number }).call, { resolve: resolve as (value: unknown) => void, reject });
      hold();
      try {
        send(message);
      } catch (error) {
        calls.delete((message as { call: number }).call);
        hold();
        reject(error);
      }
    });

  async function beginUpload(remotePath: string, begin: BeginUploadOptions): Promise<UploadSession> {
    const { signal, onProgress } = begin;
    if (signal?.aborted) throw abortError(signal);
    start();
    const id = nextSession++;
    const state: SessionState = { queued: 0, failure: undefined, waiters: [], onProgress };
    sessions.set(id, state);
    hold();
    const onAbort = () => {
      try {
        send({ type: 'cancel', id });
      } catch {
        // The thread is gone: nothing to cancel.
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      signal?.removeEventListener('abort', onAbort);
      sessions.delete(id);
      hold();
    };
    const mapError = (error: unknown) => (signal?.aborted ? abortError(signal, error) : error);
    try {
      await call({ type: 'begin', call: nextCall++, id, remotePath });
    } catch (error) {
      finish();
      throw mapError(error);
    }
    let open = true;
    const abort = async () => {
      if (!open) return;
      open = false;
      try {
        await call({ type: 'abort', call: nextCall++, id });
      } catch {
        // Best effort, as in the thread: a `.partial` left behind is replaced by the next attempt.
      } finally {
        finish();
      }
    };
    const failWith = async (error: unknown): Promise<never> => {
      const mapped = mapError(error);
      await abort();
      throw mapped;
    };
    const closed = () => new UploadError('INTERNAL', 'The upload session is closed.', { stage: 'deliver' });
    return {
      async write(chunk) {
        if (!open) throw closed();
        if (signal?.aborted) await failWith(signal.reason);
        if (state.failure) await failWith(state.failure);
        const data = carrier(chunk.byteLength);
        new Uint8Array(data, 0, chunk.byteLength).set(chunk);
        state.queued += chunk.byteLength;
        send({ type: 'write', id, data, length: chunk.byteLength }, [data]);
        while (state.queued > MAX_QUEUED_BYTES && !state.failure) {
          await new Promise<void>((resolve) => state.waiters.push(resolve));
        }
        if (state.failure) await failWith(state.failure);
      },
      async commit(summary) {
        if (!open) throw closed();
        try {
          if (state.failure) throw state.failure;
          const receipt = await call<DeliveryReceipt>({ type: 'commit', call: nextCall++, id, summary });
          open = false;
          finish();
          return receipt;
        } catch (error) {
          return failWith(error);
        }
      },
      abort,
    };
  }

  return {
    beginUpload,
    async close() {
      const current = worker;
      if (!current) return;
      try {
        await call({ type: 'close', call: nextCall++ });
      } catch {
        // Closing anyway.
      }
      stopped(current, 'closed');
      await current.terminate();
    },
  };
}
