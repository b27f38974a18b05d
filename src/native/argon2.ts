import { type Algorithm, hash, verify } from '@node-rs/argon2';

// `Algorithm` is an ambient const enum (types only); Argon2id is its value 2.
const ARGON2ID = 2 as Algorithm;

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

// How many hashes one worker computes at once. Each takes a core for ~15 ms; letting every
// login start its own (libuv's pool runs four) only makes them compete with the event loops for
// the same cores. Queued logins wait in memory, costing nothing.
let limit = 1;
let running = 0;
const waiting: (() => void)[] = [];

export function setArgon2Concurrency(n: number): void {
  limit = Math.max(1, n);
}

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** argon2id in the Rust addon; async, so hashing runs on libuv's pool, not the event loop. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return limited(() => hash(password, { algorithm: ARGON2ID, ...params }));
}

export function verifyPassword(phc: string, password: string): Promise<boolean> {
  return limited(() => verify(phc, password)).catch(() => false);
}

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

/** True when a stored hash was made with other parameters (or another algorithm) than `params`. */
export function needsRehash(phc: string, params: Argon2Params): boolean {
  const m = PHC.exec(phc);
  if (!m) return true;
  return (
    Number(m[1]) !== params.memoryCost ||
    Number(m[2]) !== params.timeCost ||
    Number(m[3]) !== params.parallelism
  );
}
