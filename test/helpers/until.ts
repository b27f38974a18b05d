import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `fn` every 100 ms until it returns a value, failing after `tries` attempts. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  tries = 200,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}
