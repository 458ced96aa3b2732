import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { raceTimeout, withTimeout } from '../src/internal/async.js';

/** Keep the event loop busy for `ms`, as a process starved of CPU or running long synchronous work. */
function blockLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

/** A promise settled by I/O from another process: it answers at once, whatever this loop does. */
function answerFromAnotherProcess(): Promise<string> {
  const child = spawn('sh', ['-c', 'printf answered']);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
  });
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
    const answer = answerFromAnotherProcess();
    const race = raceTimeout(answer, 20);
    // The answer arrives within this second; the 20 ms timer has long expired when the loop runs again.
    blockLoop(1000);
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
    const race = withTimeout(answerFromAnotherProcess(), 20, 'too slow');
    blockLoop(1000);
    expect(await race).toBe('answered');
  });
});
