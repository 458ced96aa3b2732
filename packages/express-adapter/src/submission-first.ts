import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response, Router } from 'express';

/**
 * The submission's URL taken before Express's dispatch. Only this exact URL: one
 * with a query string, a trailing slash or other letter case takes the dispatch,
 * which routes it to the same handler.
 */
export const SUBMISSION_URL = '/process-job';

/** True for the request the submission-first path takes: `POST /process-job`, exactly. */
export const isSubmissionRequest = (request: { method?: string; url?: string }) =>
  request.method === 'POST' && request.url === SUBMISSION_URL;

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
  const walking = router as unknown as {
    handle: (request: Request, response: Response, next: NextFunction) => void;
  };
  const dispatch = walking.handle.bind(router);
  const handle = (request: Request, response: Response, next: NextFunction) => {
    if (!isSubmissionRequest(request)) return dispatch(request, response, next);
    // What the walk sets up for its middleware.
    request.originalUrl ??= request.url;
    request.params = {};
    const afterRoute = (error?: unknown) => {
      // No error: the route passed the request on, and no later layer of the router answers POST here.
      if (error === undefined || error === null) return next();
      try {
        problems(error, request, response, next);
      } catch (thrown) {
        next(thrown);
      }
    };
    try {
      context(request, response, (error?: unknown) => {
        if (error !== undefined && error !== null) return afterRoute(error);
        submit(request, response, afterRoute);
      });
    } catch (thrown) {
      afterRoute(thrown);
    }
  };
  walking.handle = handle;
}
