import { type Algorithm, hash, verify } from '@node-rs/argon2';

// `Algorithm` is an ambient const enum (types only); Argon2id is its value 2.
const ARGON2ID = 2 as Algorithm;

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** argon2id in the Rust addon; async, so hashing runs on libuv's pool, not the event loop. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return hash(password, { algorithm: ARGON2ID, ...params });
}

export function verifyPassword(phc: string, password: string): Promise<boolean> {
  return verify(phc, password).catch(() => false);
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
