import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Why a request got no complete answer. */
export type RequestFailureKind = 'timeout' | 'aborted' | 'network' | 'reply-too-large';

export class RequestFailure extends Error {
  override readonly name = 'RequestFailure';
  constructor(
    readonly kind: RequestFailureKind,
    cause?: unknown,
    /** For `network`: whether the whole body had been sent. */
    readonly bodySent = true,
  ) {
    super(kind, cause === undefined ? undefined : { cause });
  }
}

export interface SendOptions {
  url: URL;
  method: 'GET' | 'HEAD' | 'POST';
  headers: Record<string, string | number>;
  /** Opens the streamed request body; called once, when the request starts. */
  body?: () => Readable;
  /** Deadline for the whole exchange: sending the body and reading the answer. */
  timeoutMs: number;
  /**
   * Start the deadline only when this settles (a body streamed while it is
   * produced: the deadline then covers the end of the body and the answer).
   * Default: at once.
   */
  timeoutFrom?: Promise<unknown>;
  signal?: AbortSignal | undefined;
  /** Replies larger than this are refused. */
  maxReplyBytes: number;
  agent?: http.Agent | undefined;
}

export interface HttpReply {
  /** False when the answer came before the whole body was sent. */
  bodySent: boolean;
  status: number;
  statusText: string;
  contentType: string;
  body: string;
}

/**
 * One HTTP exchange with a streamed body and a buffered (bounded) reply.
 * Never buffers the request body; stops sending as soon as the server answers,
 * is aborted, or the deadline passes.
 */
export function sendRequest(options: SendOptions): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new RequestFailure('aborted', options.signal.reason));
      return;
    }
    const transport = options.url.protocol === 'https:' ? https : http;
    let settled = false;
    let answered = false;
    let body: Readable | undefined;

    const settle = (error: RequestFailure | undefined, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        request.destroy();
        body?.destroy();
        reject(error);
      } else {
        // An answer that came before the whole body was sent: the server will not read the
        // rest, and the socket cannot be reused. Stop sending and release the file and socket.
        if (!request.writableFinished) {
          request.destroy();
          body?.destroy();
        }
        resolve(reply as HttpReply);
      }
    };
    const onAbort = () => settle(new RequestFailure('aborted', options.signal?.reason));
    const startTimer = () => setTimeout(() => settle(new RequestFailure('timeout')), options.timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutFrom) {
      options.timeoutFrom.then(
        () => {
          if (!settled) timer = startTimer();
        },
        () => undefined,
      );
    } else timer = startTimer();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const request = transport.request(options.url, {
      method: options.method,
      headers: options.headers,
      ...(options.agent ? { agent: options.agent } : {}),
    });
    request.on('error', (error) => {
      // After an answer started, a broken upload (the server stopped reading) is fine.
      if (!answered) settle(new RequestFailure('network', error, request.writableFinished));
    });
    request.on('response', (response) => {
      // From here on, a failure to send the rest of the body does not matter:
      // the server has decided (some answer early, e.g. 413, and stop reading).
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxReplyBytes) settle(new RequestFailure('reply-too-large'));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        ended = true;
        settle(undefined, {
          bodySent: request.writableFinished,
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? '',
          contentType: String(response.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      response.on('error', (error) => settle(new RequestFailure('network', error)));
      response.on('close', () => {
        if (!ended) settle(new RequestFailure('network'));
      });
    });

    if (options.body) {
      body = options.body();
      pipeline(body, request).catch((error: unknown) => {
        if (!answered) settle(new RequestFailure('network', error, request.writableFinished));
      });
    } else {
      request.end();
    }
  });
}
