import { isUploadError, type UploadErrorCode } from '@ncr-upload/core';
import { redactCredentials } from '@ncr-upload/core/internal';
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { loggableError } from './redact.js';

/**
 * The one table from UploadError codes to HTTP statuses. Request problems are
 * 4xx; failures of a dependency are 502/503/504; everything else is 500.
 */
export const STATUS_BY_CODE: Record<UploadErrorCode, number> = {
  INVALID_JOB: 400,
  NOT_ACCEPTING: 503,
  QUEUE_FULL: 429,
  DEPENDENCY_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  INVALID_STATE: 409,
  NO_FILES: 422,
  FILE_NOT_FOUND: 422,
  ACCESS_DENIED: 502,
  SIZE_MISMATCH: 502,
  UNSAFE_PATH: 422,
  DUPLICATE_PATH: 422,
  STORAGE_ERROR: 502,
  CATALOG_ERROR: 502,
  ARCHIVE_ERROR: 500,
  VALIDATION_REJECTED: 422,
  VALIDATOR_ERROR: 502,
  DESTINATION_ERROR: 502,
  DESTINATION_EXISTS: 409,
  HOST_KEY_MISMATCH: 502,
  CONNECTION_ERROR: 503,
  TIMEOUT: 504,
  CANCELLED: 409,
  INTERRUPTED: 503,
  WORKER_CRASHED: 500,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

/** Codes answered with a `Retry-After` header: the same request may succeed later. */
const RETRY_LATER: ReadonlySet<UploadErrorCode> = new Set([
  'NOT_ACCEPTING',
  'QUEUE_FULL',
  'DEPENDENCY_UNAVAILABLE',
  'CONNECTION_ERROR',
]);

/** 5xx codes that are expected outcomes, not faults: logged at warn without a stack. */
const EXPECTED: ReadonlySet<UploadErrorCode> = new Set([
  'NOT_ACCEPTING',
  'QUEUE_FULL',
  'DEPENDENCY_UNAVAILABLE',
]);

/** Codes whose message is not shown to clients (it could describe internals). */
const HIDDEN_MESSAGE: ReadonlySet<UploadErrorCode> = new Set([
  'INTERNAL',
  'CONFIG_INVALID',
  'WORKER_CRASHED',
]);

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface FieldError {
  /** Dotted location: `body.username`, `query.limit`, `body.0.job_id`. */
  field: string;
  message: string;
  /** FastAPI's (pydantic's) error type: `missing`, `string_type`, `string_too_long`, `value_error`… Default `value_error`. */
  type?: string;
}

/** One entry of FastAPI's validation `detail` array. */
export interface FastApiError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  /** A sentence; for invalid requests FastAPI's array of `{loc, msg, type}` (the sentence is then in `message`). */
  detail: string | FastApiError[];
  /** The sentence, when `detail` is FastAPI's array. */
  message?: string;
  code?: string;
  request_id?: string;
  errors?: FieldError[];
  items?: unknown[];
}

const kebab = (code: string) => code.toLowerCase().replaceAll('_', '-');

/** An error the router throws on purpose; turned into a problem response by the error handler. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly kind: string,
    detail: string,
    readonly extra: { errors?: FieldError[]; items?: unknown[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }
}

/** Pydantic's error type for a zod issue, as FastAPI clients read it in `detail[].type`. */
export function fastApiType(issue: z.core.$ZodIssue, input: unknown): string {
  const origin = 'origin' in issue ? String(issue.origin) : '';
  switch (issue.code) {
    case 'invalid_type':
      if (valueAt(input, issue.path) === undefined) return 'missing';
      return (
        {
          string: 'string_type',
          number: 'int_type',
          int: 'int_type',
          object: 'dict_type',
          array: 'list_type',
        }[issue.expected as string] ?? `${issue.expected}_type`
      );
    case 'too_small':
      return origin === 'string'
        ? 'string_too_short'
        : origin === 'array'
          ? 'too_short'
          : 'greater_than_equal';
    case 'too_big':
      return origin === 'string' ? 'string_too_long' : origin === 'array' ? 'too_long' : 'less_than_equal';
    case 'invalid_value':
      return 'enum';
    case 'unrecognized_keys':
      return 'extra_forbidden';
    default:
      return 'value_error';
  }
}

const valueAt = (input: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>(
    (value, key) =>
      typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined,
    input,
  );

/** Field errors of a zod error on `input`, located below `where` (`body`, `query`, `path`, `body.3`). */
export function fieldErrors(error: z.ZodError, where: string, input: unknown): FieldError[] {
  return error.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
    type: fastApiType(issue, input),
  }));
}

/** FastAPI's `detail` array for field errors: `loc` split at the dots, indexes as numbers. */
export function fastApiDetail(errors: FieldError[]): FastApiError[] {
  return errors.map((error) => ({
    loc: error.field.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part)),
    msg: error.message,
    type: error.type ?? 'value_error',
  }));
}

/** 400 naming every invalid field of a zod error. */
export function validationProblem(error: z.ZodError, where: string, input: unknown): HttpProblem {
  const errors = fieldErrors(error, where, input);
  return new HttpProblem(
    400,
    'invalid-request',
    `The request ${where} is not valid: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
    { errors },
  );
}

export function sendProblem(
  response: Response,
  problem: Problem,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  response.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
}

function build(status: number, kind: string, detail: string, requestId: string | undefined): Problem {
  return {
    type: `urn:ncr-upload:problem:${kind}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** Attach field errors: `errors` as they are, `detail` in FastAPI's shape, the sentence kept in `message`. */
function withFieldErrors(problem: Problem, errors: FieldError[]): Problem {
  problem.errors = errors.map(({ field, message }) => ({ field, message }));
  problem.message = problem.detail as string;
  problem.detail = fastApiDetail(errors);
  return problem;
}

interface BodyParserError {
  type?: unknown;
  status?: unknown;
  expose?: unknown;
}

/** Field errors of an INVALID_JOB error, whatever shape its details have. */
function fieldsOf(details: unknown): FieldError[] | undefined {
  const fields = (details as { fields?: unknown } | undefined)?.fields;
  if (!Array.isArray(fields)) return undefined;
  return fields.filter(
    (f): f is FieldError => typeof f?.field === 'string' && typeof f?.message === 'string',
  );
}

/**
 * Express error handler: every error becomes `application/problem+json`.
 * Unexpected errors are logged with the request id and answered without internals.
 */
export function problemHandler(options: { logger: Logger; retryAfterSeconds: number }): ErrorRequestHandler {
  return (error, _request, response, next) => {
    if (response.headersSent) return next(error);
    const requestId = response.locals.requestId as string | undefined;
    if (error instanceof HttpProblem) {
      const problem = build(error.status, error.kind, error.message, requestId);
      if (error.extra.errors) withFieldErrors(problem, error.extra.errors);
      if (error.extra.items) problem.items = error.extra.items;
      return sendProblem(response, problem, error.extra.headers);
    }
    if (isUploadError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      const detail = HIDDEN_MESSAGE.has(error.code)
        ? 'An unexpected error occurred. Quote the request id when reporting it.'
        : error.message;
      const problem = build(status, kebab(error.code), detail, requestId);
      problem.code = error.code;
      const errors = fieldsOf(error.details);
      if (errors)
        withFieldErrors(
          problem,
          errors.map((e) => ({ ...e, field: e.field === '(body)' ? 'body' : `body.${e.field}` })),
        );
      if (EXPECTED.has(error.code)) {
        // An outcome the service means to give (overload, shutdown): a warning without a stack.
        options.logger.warn(
          { code: error.code, status, request_id: requestId, reason: redactCredentials(error.message) },
          'request refused',
        );
      } else if (status >= 500) {
        options.logger.error({ err: loggableError(error), request_id: requestId }, 'request failed');
      }
      const headers: Record<string, string> = RETRY_LATER.has(error.code)
        ? { 'Retry-After': String(options.retryAfterSeconds) }
        : {};
      return sendProblem(response, problem, headers);
    }
    const parserError = error as BodyParserError;
    if (parserError.type === 'entity.parse.failed') {
      const problem = build(400, 'malformed-json', 'The request body is not valid JSON.', requestId);
      return sendProblem(
        response,
        withFieldErrors(problem, [{ field: 'body', message: 'malformed JSON', type: 'json_invalid' }]),
      );
    }
    if (parserError.type === 'entity.too.large') {
      return sendProblem(response, build(413, 'body-too-large', 'The request body is too large.', requestId));
    }
    // Client errors raised by Express and its body parser (a malformed percent-encoding in the
    // path carries status 400 without `expose`): answered with their status and a generic detail.
    if (typeof parserError.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      const status = parserError.status;
      const detail =
        status === 415 ? 'The request body encoding or charset is not supported.' : 'Bad request.';
      return sendProblem(response, build(status, 'bad-request', detail, requestId));
    }
    options.logger.error({ err: loggableError(error), request_id: requestId }, 'unexpected error');
    return sendProblem(
      response,
      build(
        500,
        'internal',
        'An unexpected error occurred. Quote the request id when reporting it.',
        requestId,
      ),
    );
  };
}
