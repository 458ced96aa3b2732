// Reads vitest's JSON report and prints the one summary line CI looks for.
import { readFileSync } from 'node:fs';

try {
  const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  // A file that fails to load has no failed tests but a failed suite: count it.
  const failed = report.numFailedTests || report.numFailedTestSuites || 0;
  console.log(`Tests: ${report.numPassedTests} passed, ${failed} failed`);
} catch {
  console.log('Tests: 0 passed, 1 failed');
}
