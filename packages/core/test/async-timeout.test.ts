import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { raceTimeout, withTimeout } from '../src/internal/async.js';

const scratch = mkdtempSync(join(tmpdir(), 'async-timeout-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let answers = 0;

/**
 * A promise settled by I/O from another process, which answers at once whatever this loop does,
 * and a function that keeps this event loop busy (as a process starved of CPU, or running long
 * synchronous work) until that answer is waiting in the pipe and `atLeastMs` have passed.
 */
function answerFromAnotherProcess(): {
  answer: Promise<string>;
  blockUntilAnswered(atLeastMs: number): void;
} {
  answers += 1;
  const marker = join(scratch, `answered-${answers}`);
  // The marker appears after the answer is written: once it exists, the answer waits in the pipe.
  const child = spawn('sh', ['-c', 'printf answered && : > "$1"', 'sh', marker]);
  const answer = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
  });
  return {
    answer,
    blockUntilAnswered(atLeastMs) {
      const started = Date.now();
      while (Date.now() - started < atLeastMs || !existsSync(marker)) {
        if (Date.now() - started > 30_000) throw new Error('the other process did not answer within 30 s');
      }
    },
  };
}

/**
 * Continue in the check phase of the event loop (a `setImmediate` callback): the next phase to run
 * callbacks after it is the timers phase, before the sockets and pipes are read. A blocked loop
 * then meets its expired timers first, which is the order that fails calls answered in time.
 */
const inCheckPhase = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('raceTimeout', () => {
  it('takes an answer that arrived while the loop was blocked past the timeout', async () => {
    await inCheckPhase();
    const other = answerFromAnotherProcess();
    const race = raceTimeout(other.answer, 20);
    // The 20 ms timer has long expired when the loop runs again, and the answer waits to be read.
    other.blockUntilAnswered(200);
    expect(await race).toBe('answered');
  });

  it('times out when nothing answers', async () => {
    const never = new Promise<string>(() => undefined);
    expect(await raceTimeout(never, 20)).toBe('timeout');
  });

  it('settles with the promise when it settles first, and rejects with its error', async () => {
    expect(await raceTimeout(Promise.resolve(7), 1000)).toBe(7);
    await expect(raceTimeout(Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
  });
});

describe('withTimeout', () => {
  it('rejects with the message when nothing answers, and passes an answer through', async () => {
    await expect(withTimeout(new Promise(() => undefined), 20, 'too slow')).rejects.toThrow('too slow');
    expect(await withTimeout(Promise.resolve('ok'), 1000, 'too slow')).toBe('ok');
  });

  it('takes an answer that arrived while the loop was blocked past the timeout', async () => {
    await inCheckPhase();
    const other = answerFromAnotherProcess();
    const race = withTimeout(other.answer, 20, 'too slow');
    other.blockUntilAnswered(200);
    expect(await race).toBe('answered');
  });
});
