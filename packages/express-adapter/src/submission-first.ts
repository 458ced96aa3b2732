import type {
  ErrorRequestHandler,
  Express,
  NextFunction,
  Request,
  RequestHandler,
  Response,
  Router,
} from 'express';

/**
 * The submission's URL taken before Express's dispatch. Only this exact URL: one
 * with a query string, a trailing slash or other letter case takes the dispatch,
 * which routes it to the same handler.
 */
export const SUBMISSION_URL = '/process-job';

/** True for the request the submission-first path takes: `POST /process-job`, exactly. */
export const isSubmissionRequest = (request: { method?: string; url?: string }) =>
  request.method === 'POST' && request.url === SUBMISSION_URL;

type Handle = (request: Request, response: Response, callback?: NextFunction) => void;

/**
 * Run `context`, then `handler`, as Express's walk runs two consecutive layers:
 * an error passed or thrown by either goes to `tail(error)`, and so does
 * `handler`'s pass-on (`tail()` with no error).
 */
function contextThen(
  context: RequestHandler,
  handler: RequestHandler,
  request: Request,
  response: Response,
  tail: (error?: unknown) => void,
): void {
  try {
    context(request, response, (error?: unknown) => {
      if (error !== undefined && error !== null) return tail(error);
      handler(request, response, tail);
    });
  } catch (thrown) {
    tail(thrown);
  }
}

/**
 * Swap the dispatch of `target` (an app or a router) for one that gives
 * `POST /process-job` to `take` and every other request to the walk.
 */
function takeBeforeWalk(target: Express | Router, take: Handle): void {
  const walking = target as unknown as { handle: Handle };
  const dispatch = walking.handle.bind(target);
  walking.handle = (request, response, callback) => {
    if (!isSubmissionRequest(request)) return dispatch(request, response, callback);
    take(request, response, callback);
  };
}

export interface SubmissionFirstOptions {
  /** The router's request context (request id, log line), the router's first middleware. */
  context: RequestHandler;
  /** The submission's handler (its lean path), the first route the router would match. */
  submit: RequestHandler;
  /** The router's problem handler, where the route's errors go. */
  problems: ErrorRequestHandler;
}

/**
 * Make the router take `POST /process-job` before walking its stack: the request
 * goes through the same middleware the walk would reach first (the request
 * context, then the submission's route; the docs' asset mounts before it never
 * match this URL), and the route's errors to the same problem handler, so the
 * answer is the same, without the per-layer matching of every request.
 * The rest of the router is unchanged.
 */
export function takeSubmissionFirst(router: Router, options: SubmissionFirstOptions): void {
  const { context, submit, problems } = options;
  takeBeforeWalk(router, (request, response, callback) => {
    // A mounted router is always given its \`next\` (the app's walk, or the app's part below).
    const next = callback as NextFunction;
    // What the walk sets up for its middleware.
    request.originalUrl ??= request.url;
    request.params = {};
    contextThen(context, submit, request, response, (error?: unknown) => {
      // No error: the route passed the request on, and no later layer of the router answers POST here.
      if (error === undefined || error === null) return next();
      try {
        problems(error, request, response, next);
      } catch (thrown) {
        next(thrown);
      }
    });
  });
}

export interface SubmissionFirstInAppParts {
  /** The app's request context, its first middleware. */
  context: RequestHandler;
  /** The mounted upload router. */
  router: RequestHandler;
  /** The app's 404 handler, after the router. */
  notFound: RequestHandler;
  /** The app's problem handler, last. */
  problems: ErrorRequestHandler;
}

/**
 * The app's part of the submission-first path: `POST /process-job` gets what
 * Express's `handle` sets up (the request and response prototypes, `locals`),
 * the app's request context, then the router; what the router passes on goes
 * to the app's own tail (404, problem handler), as the walk would. Only for an
 * app without CORS (with CORS, every request takes the walk).
 */
export function takeSubmissionFirstInApp(app: Express, parts: SubmissionFirstInAppParts): void {
  const { context, router, notFound, problems } = parts;
  const prototypes = app as unknown as { request: object; response: object };
  takeBeforeWalk(app, (request, response, callback) => {
    // As Express's final handler does once the answer has started: nothing more can be said.
    const final: NextFunction =
      callback ??
      ((error?: unknown) => {
        if (response.headersSent) request.socket?.destroy();
        else if (error) response.destroy(error instanceof Error ? error : undefined);
      });
    request.res = response;
    response.req = request;
    Object.setPrototypeOf(request, prototypes.request);
    Object.setPrototypeOf(response, prototypes.response);
    if (!response.locals) response.locals = Object.create(null);
    contextThen(context, router, request, response, (error?: unknown) => {
      try {
        if (error === undefined || error === null) {
          notFound(request, response, (missing?: unknown) => problems(missing, request, response, final));
        } else {
          problems(error, request, response, final);
        }
      } catch (thrown) {
        final(thrown);
      }
    });
  });
}
