import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { isUploadError, UploadError } from '../errors.js';
import type { JobRequest } from '../job.js';
import type { CallOptions } from '../ports/file-ref.js';
import type { ArchiveInfo, ArchiveStream, Validator, Verdict } from '../ports/validator.js';
import { type HttpReply, RequestFailure, sendRequest } from './http-request.js';
import { multipartFrame } from './multipart.js';
import {
  type HttpValidatorOptions,
  jobFields,
  NOT_ABOUT_THE_ARCHIVE,
  OptionsSchema,
  splitCredentials,
} from './options.js';
import { redactUrl } from './redact-url.js';
import { parseVerdict, reasonsFromErrorBody } from './reply.js';

/** Checks archives with an external HTTP validator API; see docs/adapters/http-validator.md. */
export function createHttpValidator(options: HttpValidatorOptions): Validator {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`,
    );
    throw new UploadError('CONFIG_INVALID', `Invalid HTTP validator options: ${issues.join('; ')}.`, {
      details: { issues },
    });
  }
  const config = parsed.data;
  const { url: target, authorization } = splitCredentials(config.url);
  const shown = redactUrl(target);
  const baseHeaders: Record<string, string> = {
    ...(authorization ? { authorization } : {}),
    ...config.headers,
    accept: 'application/json',
  };

  const fail = (message: string, retryable: boolean, cause?: unknown, details?: unknown) =>
    new UploadError('VALIDATOR_ERROR', message, { stage: 'validate', retryable, cause, details });

  const failure = (
    error: unknown,
    url: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): UploadError => {
    if (!(error instanceof RequestFailure)) return fail(`Validator request to ${url} failed.`, true, error);
    switch (error.kind) {
      case 'aborted': {
        const reason: unknown = signal?.reason;
        if (isUploadError(reason)) return reason;
        return new UploadError(
          'CANCELLED',
          'The task was cancelled while the validator checked the archive.',
          {
            stage: 'validate',
            cause: reason,
          },
        );
      }
      case 'timeout':
        return fail(`Validator at ${url} did not answer within ${timeoutMs} ms; it will be retried.`, true);
      case 'reply-too-large':
        return fail(`Validator at ${url} sent a reply larger than ${config.maxReplyBytes} bytes.`, false);
      default: {
        const code = (error.cause as { code?: unknown } | undefined)?.code;
        const what = typeof code === 'string' ? ` (${code})` : '';
        return fail(`Could not reach the validator at ${url}${what}; it will be retried.`, true, error.cause);
      }
    }
  };

  const classify = (reply: HttpReply, sentSha256: string | undefined): Verdict => {
    const status = `${reply.status}${reply.statusText ? ` ${reply.statusText}` : ''}`;
    if (reply.status >= 200 && reply.status < 300) {
      const verdict = parseVerdict(reply.body);
      if (!verdict) {
        throw fail(
          `Validator at ${shown} answered ${status} with a body that is not {"valid": boolean, "errors": [...]}; check the validator URL and API.`,
          false,
          undefined,
          { status: reply.status, content_type: reply.contentType },
        );
      }
      const echoed = verdict.details?.['sha256'];
      if (
        config.verifySha256 &&
        sentSha256 !== undefined &&
        typeof echoed === 'string' &&
        /^[0-9a-f]{64}$/i.test(echoed)
      ) {
        if (echoed.toLowerCase() !== sentSha256.toLowerCase()) {
          throw fail(
            `Validator at ${shown} received different bytes (sha256 ${echoed}) than were sent (${sentSha256}); it will be retried.`,
            true,
          );
        }
      }
      return verdict;
    }
    if (reply.status >= 400 && reply.status < 500) {
      const special = NOT_ABOUT_THE_ARCHIVE[reply.status];
      if (special) {
        throw fail(
          `Validator at ${shown} answered ${status}; ${special.hint}.`,
          special.retryable,
          undefined,
          {
            status: reply.status,
          },
        );
      }
      const { errors, details } = reasonsFromErrorBody(reply.body);
      return {
        valid: false,
        errors:
          errors.length > 0
            ? errors
            : [{ message: `The validator answered ${status}.`, code: `HTTP_${reply.status}` }],
        details: { ...details, http_status: reply.status },
      };
    }
    const retryable = reply.status >= 500;
    throw fail(
      `Validator at ${shown} answered ${status}${retryable ? '; it will be retried' : ''}.`,
      retryable,
      undefined,
      { status: reply.status },
    );
  };

  const post = (
    url: URL,
    headers: Record<string, string | number>,
    body: () => Readable,
    signal: AbortSignal | undefined,
    timeoutFrom?: Promise<unknown>,
  ) =>
    sendRequest({
      url,
      method: 'POST',
      headers,
      body,
      timeoutMs: config.timeoutMs,
      ...(timeoutFrom ? { timeoutFrom } : {}),
      signal,
      maxReplyBytes: config.maxReplyBytes,
      agent: options.agent,
    });

  const validator: Validator = {
    async validate(archive: ArchiveInfo, job: JobRequest, callOptions: CallOptions = {}): Promise<Verdict> {
      let size: number;
      try {
        size = (await stat(archive.path)).size;
      } catch (error) {
        throw new UploadError('ARCHIVE_ERROR', 'The archive to validate is missing from the work folder.', {
          stage: 'validate',
          cause: error,
        });
      }
      const fields: [string, string][] = [...jobFields(job), ['sha256', archive.sha256]];
      const fileBytes = () => (size > 0 ? createReadStream(archive.path, { start: 0, end: size - 1 }) : null);
      const url = new URL(target);
      let headers: Record<string, string | number>;
      let body: () => Readable;
      if (config.mode === 'raw') {
        for (const [name, value] of fields) url.searchParams.set(name, value);
        headers = { ...baseHeaders, 'content-type': 'application/zip', 'content-length': size };
        body = () => fileBytes() ?? Readable.from([]);
      } else {
        const fileName = basename(archive.path);
        const frame = multipartFrame(
          fields.map(([name, value]) => ({ name, value })),
          config.fieldName,
          fileName,
        );
        headers = {
          ...baseHeaders,
          'content-type': frame.contentType,
          'content-length': frame.preamble.length + size + frame.epilogue.length,
        };
        body = () =>
          Readable.from(
            (async function* () {
              yield frame.preamble;
              const file = fileBytes();
              if (file) yield* file;
              yield frame.epilogue;
            })(),
            { objectMode: false },
          );
      }
      let reply: HttpReply;
      try {
        reply = await post(url, headers, body, callOptions.signal);
      } catch (error) {
        throw failure(error, shown, callOptions.signal, config.timeoutMs);
      }
      return classify(reply, archive.sha256);
    },

    async validateStream(input: ArchiveStream, job: JobRequest, callOptions: CallOptions = {}) {
      // The sha256 is known only at the end: multipart sends it as a field after the file; raw sends none.
      const fields = jobFields(job);
      const url = new URL(target);
      let headers: Record<string, string>;
      let body: () => Readable;
      if (config.mode === 'raw') {
        for (const [name, value] of fields) url.searchParams.set(name, value);
        headers = { ...baseHeaders, 'content-type': 'application/zip' };
        body = () => input.stream;
      } else {
        const frame = multipartFrame(
          fields.map(([name, value]) => ({ name, value })),
          config.fieldName,
          'archive.zip',
        );
        headers = { ...baseHeaders, 'content-type': frame.contentType };
        body = () =>
          Readable.from(
            (async function* () {
              yield frame.preamble;
              yield* input.stream;
              const { sha256 } = await input.complete;
              yield frame.epilogueWith([{ name: 'sha256', value: sha256 }]);
            })(),
            { objectMode: false },
          );
      }
      let reply: HttpReply;
      try {
        // Chunked transfer encoding (no content-length); the deadline runs from the archive's end.
        reply = await post(url, headers, body, callOptions.signal, input.complete);
      } catch (error) {
        if (error instanceof RequestFailure && error.kind === 'network' && !error.bodySent) {
          throw fail(
            `Validator at ${shown} closed the connection before it received the whole archive; it will be retried.`,
            true,
            error.cause,
            { reason: 'closed_early' },
          );
        }
        throw failure(error, shown, callOptions.signal, config.timeoutMs);
      }
      if (!reply.bodySent) {
        // An answer before the end of the body: a refusal (413, 422, …) is a verdict; an acceptance cannot be.
        const verdict = classify(reply, undefined);
        if (verdict.valid) {
          throw fail(
            `Validator at ${shown} accepted the archive before it received all of it; its answer cannot be trusted. Check the validator.`,
            false,
            undefined,
            { reason: 'answered_early', status: reply.status },
          );
        }
        return { ...verdict, details: { ...verdict.details, answered_early: true } };
      }
      return classify(reply, (await input.complete).sha256);
    },
  };

  // Without a stream input, the pipeline sends the finished zip (`validate`).
  if (!config.stream) delete validator.validateStream;

  if (config.healthUrl) {
    const health = splitCredentials(config.healthUrl);
    const healthShown = redactUrl(health.url);
    validator.ping = async (callOptions: CallOptions = {}) => {
      let reply: HttpReply;
      try {
        reply = await sendRequest({
          url: health.url,
          method: 'GET',
          headers: {
            ...(health.authorization ? { authorization: health.authorization } : {}),
            ...config.headers,
          },
          timeoutMs: config.pingTimeoutMs,
          signal: callOptions.signal,
          maxReplyBytes: config.maxReplyBytes,
          agent: options.agent,
        });
      } catch (error) {
        throw failure(error, healthShown, callOptions.signal, config.pingTimeoutMs);
      }
      if (reply.status < 200 || reply.status >= 300) {
        throw fail(`Validator health check at ${healthShown} answered ${reply.status}.`, true);
      }
    };
  }
  return validator;
}

export type { HttpValidatorOptions };
