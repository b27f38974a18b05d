import { SCOPES } from '../../config/scopes.ts';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { Argon2Busy, type Argon2Params, hashPassword as argon2Hash } from '../../native/argon2.ts';
import * as repo from './auth.repo.ts';

// Who may have an account, and how one is made: one set of rules for open registration and for
// the operator's `npm run user:create`.

/** A password's length in characters (code points), as the routes' schema counts it too. */
export const PASSWORD_LENGTH = { min: 12, max: 256 } as const;

export interface PublicUser {
  id: string;
  email: string;
  scopes: string[];
  createdAt: string;
}

const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u;

export function normaliseEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isEmail(email: string): boolean {
  return EMAIL.test(email) && email.length <= 254;
}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: `body ${path}: ${message}`,
    extensions: { errors: [{ in: 'body', path, message }] },
  });
}

export function invalidEmail(): AppError {
  return invalid('/email', 'must be an email address');
}

function taken(): AppError {
  return new AppError('CONFLICT', { detail: 'An account with this email already exists.' });
}

/** Runs argon2 work; a full queue answers 429 rather than waiting without bound. */
export async function hashing<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof Argon2Busy)) throw err;
    throw new AppError('TOO_MANY_REQUESTS', {
      detail: 'The server is busy checking passwords; try again shortly.',
      headers: { 'Retry-After': '1' },
    });
  }
}

export function argon2Params(config: Config): Argon2Params {
  return {
    memoryCost: config.ARGON2_MEMORY_KIB,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM,
  };
}

export interface NewAccount {
  email: string;
  password: string;
  scopes: readonly string[];
}

/**
 * The rules a new account must meet (email, password length, known scopes); a VALIDATION_FAILED
 * naming the member (`/email`, `/password`, `/scopes`) when one is broken. Costs no hash.
 */
export function checkAccount(input: Omit<NewAccount, 'password'> & { password?: string }): void {
  if (!isEmail(normaliseEmail(input.email))) throw invalidEmail();
  // Without a password (not asked for yet), the rest is checked.
  if (input.password !== undefined) {
    const length = [...input.password].length;
    if (length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max) {
      throw invalid('/password', `must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long`);
    }
  }
  const unknown = input.scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw invalid('/scopes', `unknown scopes: ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`);
  }
}

/** Account creation with the rules every way in shares (`checkAccount`), one account per email. */
export function createAccounts({ db, config }: { db: Database; config: Config }) {
  const argon2 = argon2Params(config);
  return {
    async createUser(input: NewAccount): Promise<PublicUser> {
      checkAccount(input);
      const email = normaliseEmail(input.email);
      // A taken email costs no hash (the insert below still settles a race).
      if (await repo.findUserByEmail(db, email)) throw taken();
      const passwordHash = await hashing(argon2Hash(input.password, argon2));
      const row = await repo.insertUser(db, { email, passwordHash, scopes: [...input.scopes] });
      if (!row) throw taken();
      return { id: row.id, email: row.email, scopes: row.scopes, createdAt: row.created_at.toISOString() };
    },
  };
}
