import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The job seeded into the embedded storage, ready to submit. */
export const SAMPLE_JOB = { job_id: 'sample-job', username: 'alice', campaign: 'demo', row_id: 1 } as const;

/** A 1×1 transparent PNG. */
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const SAMPLE_FILES: Record<string, string | Buffer> = {
  'README.txt': 'A sample job for the embedded storage of ncr-upload.\nSubmit it with: ncr-upload submit -\n',
  'data/rows.csv': 'row_id,name,value\n1,first,10\n2,second,20\n3,third,30\n',
  'images/pixel.png': PIXEL_PNG,
};

/**
 * Write the sample job's files below `<storageRoot>/demo/alice/sample-job/`
 * unless they exist (a user's edits are kept). Returns the job's folder.
 */
export async function seedSampleJob(storageRoot: string): Promise<string> {
  const folder = join(storageRoot, SAMPLE_JOB.campaign, SAMPLE_JOB.username, SAMPLE_JOB.job_id);
  for (const [name, content] of Object.entries(SAMPLE_FILES)) {
    const path = join(folder, name);
    if (existsSync(path)) continue;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
  return folder;
}
