export { type CorsOptions, createUploadApp, type UploadApp, type UploadAppOptions } from './app.js';
export { presentedKey, requireApiKey } from './auth.js';
export { createUploadMetrics, type UploadMetrics } from './metrics.js';
export { type AuthGroup, type AuthGroups, REDACT_PATHS, type UploadRouterOptions } from './options.js';
export { HttpProblem, type Problem, problemHandler, STATUS_BY_CODE } from './problem.js';
export type { ResponseSpec, RouteSpec } from './route-spec.js';
export { createUploadRouter, type UploadRouter } from './router.js';
export {
  BatchSubmitResponseSchema,
  CeleryStatsSchema,
  HealthResponseSchema,
  JobStatusResponseSchema,
  MemoryStatsSchema,
  ProblemSchema,
  SubmitResponseSchema,
  TaskListResponseSchema,
  WorkerStatsSchema,
} from './schemas.js';
