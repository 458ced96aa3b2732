/**
 * The upload thread's program: streamed SFTP uploads (`beginUpload`) run here,
 * on their own ssh2 connections, so SSH encryption, packet building and the
 * socket writes of the upload do not compete with the zip, the hash and the
 * validator's request on the main thread. The main side is `upload-thread.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '../pipeline-types.js';
import type { DeliveryReceipt, UploadSession } from '../ports/destination.js';
import { buildSftpDestination } from './destination.js';
import { resolveSftpOptions } from './options.js';
import {
  type FromUploadThread,
  type SerializedError,
  serializeError,
  type ToUploadThread,
  type UploadThreadSetup,
} from './upload-thread-protocol.js';

/** Progress is reported to the main thread at most once per this many bytes (and on the last one). */
const PROGRESS_STEP = 4 * 1024 * 1024;

interface Entry {
  session: UploadSession | undefined;
  controller: AbortController;
  /** Writes run one after another, in order. */
  chain: Promise<void>;
  /** The first failed write (the session is closed then): commit reports it. */
  failure: unknown;
  failed: boolean;
  closing: boolean;
  /** Bytes the server acknowledged, and the last count sent to the main thread. */
  acknowledged: number;
  reported: number;
}

const port = parentPort;
if (!port) throw new Error('upload-worker runs as a worker thread only');
const post = (message: FromUploadThread, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);
const forward =
  (level: 'debug' | 'info' | 'warn' | 'error') => (fields: Record<string, unknown>, message?: string) =>
    post({ type: 'log', level, fields, message: message ?? '' });
const logger = {
  debug: forward('debug'),
  info: forward('info'),
  warn: forward('warn'),
  error: forward('error'),
} as Logger;
const setup = workerData as UploadThreadSetup;
const destination = buildSftpDestination(resolveSftpOptions({ ...setup.options, logger }), {
  uploadThread: false,
});
const sessions = new Map<number, Entry>();

const reply = async (call: number, action: () => Promise<DeliveryReceipt | undefined>) => {
  try {
    const value = await action();
    post(value === undefined ? { type: 'reply', call, ok: true } : { type: 'reply', call, ok: true, value });
  } catch (error) {
    post({ type: 'reply', call, ok: false, error: serializeError(error) });
  }
};

function begin(id: number, remotePath: string): Promise<void> {
  const entry: Entry = {
    session: undefined,
    controller: new AbortController(),
    chain: Promise.resolve(),
    failure: undefined,
    failed: false,
    closing: false,
    acknowledged: 0,
    reported: 0,
  };
  sessions.set(id, entry);
  return destination
    .beginUpload(remotePath, {
      signal: entry.controller.signal,
      onProgress: (bytes) => {
        entry.acknowledged = bytes;
        if (bytes - entry.reported >= PROGRESS_STEP) reportProgress(id, entry);
      },
    })
    .then(
      (session) => {
        entry.session = session;
      },
      (error: unknown) => {
        sessions.delete(id);
        throw error;
      },
    );
}

function reportProgress(id: number, entry: Entry): void {
  if (entry.acknowledged === entry.reported) return;
  entry.reported = entry.acknowledged;
  post({ type: 'progress', id, bytes: entry.acknowledged });
}

/** Take `length` bytes of `data` for session `id`; the buffer goes back with the ack, for reuse. */
function write(id: number, data: ArrayBuffer, length: number): void {
  const entry = sessions.get(id);
  const ack = (error?: SerializedError) =>
    post({ type: 'ack', id, bytes: length, data, ...(error ? { error } : {}) }, [data]);
  if (!entry?.session) {
    ack({ message: 'The upload session is closed.' });
    return;
  }
  const session = entry.session;
  entry.chain = entry.chain.then(async () => {
    if (entry.failed || entry.closing) return ack();
    try {
      // The session copies the bytes into its requests before it resolves: the buffer is free again then.
      await session.write(Buffer.from(data, 0, length));
      ack();
    } catch (error) {
      entry.failed = true;
      entry.failure = error;
      ack(serializeError(error));
    }
  });
}

async function finishSession<T>(id: number, action: (session: UploadSession) => Promise<T>) {
  const entry = sessions.get(id);
  if (!entry?.session) return undefined;
  const session = entry.session;
  try {
    await entry.chain;
    return await action(session);
  } finally {
    sessions.delete(id);
  }
}

port.on('message', (message: ToUploadThread) => {
  switch (message.type) {
    case 'begin':
      void reply(message.call, async () => {
        await begin(message.id, message.remotePath);
        return undefined;
      });
      break;
    case 'write':
      write(message.id, message.data, message.length);
      break;
    case 'commit':
      void reply(message.call, () =>
        finishSession(message.id, async (session) => {
          // A write failed after the caller's last write returned: report that failure, not "closed".
          const failed = sessions.get(message.id);
          if (failed?.failed) throw failed.failure;
          const receipt = await session.commit(message.summary);
          // The last count before the reply: when commit resolves, the caller has seen every byte acknowledged.
          const entry = sessions.get(message.id);
          if (entry) reportProgress(message.id, entry);
          return receipt;
        }),
      );
      break;
    case 'abort': {
      const entry = sessions.get(message.id);
      if (entry) entry.closing = true;
      void reply(message.call, async () => {
        await finishSession(message.id, (session) => session.abort());
        return undefined;
      });
      break;
    }
    case 'cancel':
      sessions.get(message.id)?.controller.abort(new Error('The upload was cancelled.'));
      break;
    case 'close':
      void reply(message.call, async () => {
        for (const entry of sessions.values()) entry.controller.abort(new Error('The destination closed.'));
        await destination.close();
        return undefined;
      });
      break;
  }
});
