// Reads vitest's JSON reports (one per run: Node 20, Node 24) and prints the one summary line CI looks for.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests;
    // A file that fails to load has no failed tests but a failed suite: count it.
    failed += report.numFailedTests || report.numFailedTestSuites || 0;
  } catch {
    // A run that wrote no report failed.
    failed += 1;
  }
}
console.log(`Tests: ${passed} passed, ${failed} failed`);
