import type { UploadPipeline } from '@ncr-upload/core';

export declare const tinyJob: (index: number) => {
  job_id: string;
  username: string;
  campaign: string;
  row_id: number;
};

export declare function submitAndWait(
  pipeline: UploadPipeline,
  jobCount: number,
  inFlight: number,
): Promise<{
  jobs: number;
  seconds: number;
  submit_seconds: number;
  cpu_ms: number;
  submit_cpu_ms: number;
  states: Record<string, number>;
}>;
