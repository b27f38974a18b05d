import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { addon } from './addons.ts';
import { isBcrypt, verifyBcrypt } from './bcrypt.ts';
import { onThread } from './wasm-pool.ts';

type Native = typeof import('@node-rs/argon2');
const require = createRequire(import.meta.url);
// The Rust addon where it loads (libuv's pool); else hash-wasm's argon2 (WebAssembly) on worker
// threads (native/wasm-pool.ts): slower, but still off the event loop.
const native = addon(
  'argon2',
  () => require('@node-rs/argon2') as Native,
  'hash-wasm (WebAssembly, worker threads)',
);

function hash(password: string, o: Argon2Params): Promise<string> {
  if (native) return native.hash(password, { algorithm: ARGON2ID, ...o });
  return onThread<string>({
    op: 'argon2id',
    password,
    salt: randomBytes(16),
    parallelism: o.parallelism,
    iterations: o.timeCost,
    memorySize: o.memoryCost,
  });
}

function verify(phc: string, password: string): Promise<boolean> {
  if (native) return native.verify(phc, password);
  return onThread<boolean>({ op: 'argon2Verify', password, hash: phc });
}

// `Algorithm` is an ambient const enum (types only); Argon2id is its value 2.
const ARGON2ID = 2 as import('@node-rs/argon2').Algorithm;

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

// How many hashes one worker computes at once. Each takes a core for ~15 ms; letting every
// login start its own (libuv's pool runs four) only makes them compete with the event loops for
// the same cores. A bounded number wait in memory; beyond that the work is refused, so a flood
// of logins or registrations cannot queue unbounded CPU ahead of everyone else's.
let limit = 1;
let queueMax = 32;
let running = 0;
const waiting: (() => void)[] = [];

/** Thrown instead of queueing when ARGON2_CONCURRENCY hashes run and ARGON2_QUEUE_MAX wait. */
export class Argon2Busy extends Error {
  constructor() {
    super('argon2 queue is full');
    this.name = 'Argon2Busy';
  }
}

export function setArgon2Concurrency(n: number, maxQueued = queueMax): void {
  limit = Math.max(1, n);
  queueMax = Math.max(0, maxQueued);
}

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= limit) {
    if (waiting.length >= queueMax) throw new Argon2Busy();
    // The slot is handed over by the one finishing (running stays counted), so no newcomer
    // can take it in between.
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else running++;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** argon2id in the Rust addon; async, so hashing runs on libuv's pool, not the event loop (the fallback's on worker threads). */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return limited(() => hash(password, params));
}

/**
 * False for a wrong password or an unreadable hash; rejects with Argon2Busy when full. Any argon2
 * variant, and bcrypt for imported users (`native/bcrypt.ts`), both in the same queue.
 */
export function verifyPassword(phc: string, password: string): Promise<boolean> {
  if (isBcrypt(phc)) return limited(() => verifyBcrypt(phc, password));
  return limited(() => verify(phc, password).catch(() => false));
}

const ARGON2_PHC = /^\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** A stored hash `verifyPassword` can check: argon2 in PHC form or bcrypt. */
export function isKnownHash(hash: string): boolean {
  return ARGON2_PHC.test(hash) || isBcrypt(hash);
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
