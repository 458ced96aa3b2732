export { type AdmissionInput, decideAdmission, type ThrottleState } from './admission.js';
export {
  type BuildPipelineOptions,
  type BuiltPipeline,
  buildPipelineFromConfig,
  type PipelineParts,
  redisConnectionOptions,
} from './build-pipeline.js';
export { ConfigError, type LoadConfigOptions, loadConfig, type RunnerConfig } from './config.js';
export { maskConfig, maskUrl, SECRET_VARIABLES } from './config-mask.js';
export { localUrl } from './local-url.js';
export {
  loadPipelineModule,
  type PipelineModuleContext,
  type PipelineModuleResult,
} from './pipeline-module.js';
export { createRunner, Runner } from './runner.js';
export type {
  ChildExitEvent,
  ChildStats,
  RecycleEvent,
  RunnerEvents,
  RunnerOptions,
  RunnerStats,
  StopSummary,
} from './runner-types.js';
export { SAMPLE_JOB, seedSampleJob } from './sample-data.js';
