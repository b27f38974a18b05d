import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import {
  type Argon2Params,
  hashPassword as argon2Hash,
  verifyPassword as argon2Verify,
  needsRehash,
  setArgon2Concurrency,
} from '../../native/argon2.ts';
import {
  argon2Params,
  createAccounts,
  hashing,
  invalidEmail,
  isEmail,
  normaliseEmail,
  type PublicUser,
} from './auth.accounts.ts';
import type { LoginLimiter } from './auth.limiter.ts';
import * as repo from './auth.repo.ts';

export type { PublicUser } from './auth.accounts.ts';

import type { AccessTokens } from './auth.tokens.ts';

export interface TokenPair {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
}

// Control characters (NUL among them) are not part of an address, and Postgres refuses NUL.
function invalidCredentials(): AppError {
  return new AppError('UNAUTHORIZED', { detail: 'Invalid email or password.' });
}

function invalidRefresh(): AppError {
  return new AppError('UNAUTHORIZED', { detail: 'The refresh token is invalid, expired or revoked.' });
}

// A full hashing queue is load, not an error: the client may retry shortly.
const hashPassword = (password: string, params: Argon2Params) => hashing(argon2Hash(password, params));
const verifyPassword = (phc: string, password: string) => hashing(argon2Verify(phc, password));

// Refresh tokens are 256 random bits; an unsalted SHA-256 is enough to keep them unusable if
// the table leaks (nothing to brute-force), and it is a fast, indexed lookup.
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export interface AuthDeps {
  db: Database;
  config: Config;
  tokens: AccessTokens;
  limiter: LoginLimiter;
  log: Logger;
}

export function createAuthService({ db, config, tokens, limiter, log }: AuthDeps) {
  const argon2 = argon2Params(config);
  const accounts = createAccounts({ db, config });
  setArgon2Concurrency(config.ARGON2_CONCURRENCY, config.ARGON2_QUEUE_MAX);
  // Verified against when the email is unknown, so both failures cost the same.
  let dummyHash: Promise<string> | undefined;

  async function issuePair(
    user: { id: string; scopes: string[] },
    family: { id: string; parentId: string | null },
    client: Parameters<typeof repo.insertRefreshToken>[0] = db,
  ): Promise<TokenPair> {
    const refreshToken = randomBytes(32).toString('base64url');
    await repo.insertRefreshToken(client, {
      hash: hashRefreshToken(refreshToken),
      familyId: family.id,
      parentId: family.parentId,
      userId: user.id,
      ttlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
    });
    const accessToken = await tokens.issue(user);
    return { accessToken, tokenType: 'Bearer', expiresIn: tokens.ttlSeconds, refreshToken };
  }

  return {
    /** A legacy service's user, first seen by their token, gets an account (issue 15). */
    provisionLegacyUser(userId: string): Promise<void> {
      return repo.provisionLegacyUser(db, userId);
    },

    async register(input: { email: string; password: string }, ip: string): Promise<PublicUser> {
      if (!config.REGISTRATION_ENABLED) {
        throw new AppError('FORBIDDEN', {
          detail: 'Registration is closed; ask an operator for an account.',
        });
      }
      // Input that is refused anyway costs no hash, so it spends none of the address's budget.
      if (!isEmail(normaliseEmail(input.email))) throw invalidEmail();
      await limiter.admitRegistration(ip);
      return accounts.createUser({ ...input, scopes: config.DEFAULT_SCOPES });
    },

    async login(input: { email: string; password: string }, ip: string): Promise<TokenPair> {
      const email = normaliseEmail(input.email);
      const delayMs = await limiter.admit(ip, email);
      // Many recent failures for this email from anywhere: slow down, never refuse.
      if (delayMs > 0) {
        log.info({ delayMs }, 'login slowed: many recent failures for this email');
        await sleep(delayMs);
      }
      const user = await repo.findUserByEmail(db, email);
      dummyHash ??= argon2Hash(randomBytes(16).toString('hex'), argon2).catch((err) => {
        dummyHash = undefined;
        throw err;
      });
      const ok = await verifyPassword(user?.password_hash ?? (await hashing(dummyHash)), input.password);
      if (!user || !ok) throw invalidCredentials();
      await limiter.succeeded(ip, email);
      if (needsRehash(user.password_hash, argon2)) {
        const upgraded = await hashPassword(input.password, argon2);
        await repo.updatePasswordHash(db, user.id, user.password_hash, upgraded);
        log.info({ userId: user.id }, 'password hash upgraded to current argon2 parameters');
      }
      return db.transaction(async (client) => {
        const familyId = randomUUID();
        await repo.insertRefreshFamily(client, { id: familyId, userId: user.id });
        return issuePair(user, { id: familyId, parentId: null }, client);
      });
    },

    /**
     * Rotates a refresh token; a reused one revokes its whole family (and answers 401). The
     * family's row lock serialises this with every other rotation, revocation and logout of the
     * family, so a revocation sees every token issued before it and none is issued after it.
     */
    async refresh(refreshToken: string): Promise<TokenPair> {
      const hash = hashRefreshToken(refreshToken);
      const outcome = await db.transaction(async (client) => {
        const found = await repo.findRefreshToken(client, hash);
        if (!found) return { kind: 'invalid' as const };
        const family = await repo.lockRefreshFamily(client, found.family_id);
        // Read again under the lock: what committed while we waited for it is visible now.
        const row = await repo.findRefreshToken(client, hash);
        if (!family || family.revoked_at || !row || row.revoked_at || row.expires_at.getTime() <= Date.now())
          return { kind: 'invalid' as const };
        if (row.used_at) {
          const revoked = await repo.revokeFamily(client, row.family_id);
          return { kind: 'reused' as const, familyId: row.family_id, userId: row.user_id, revoked };
        }
        const user = await repo.findUserById(client, row.user_id);
        if (!user) return { kind: 'invalid' as const };
        await repo.markRefreshTokenUsed(client, row.id);
        const pair = await issuePair(user, { id: row.family_id, parentId: row.id }, client);
        return { kind: 'ok' as const, pair };
      });
      if (outcome.kind === 'ok') return outcome.pair;
      if (outcome.kind === 'reused') {
        log.warn(
          { userId: outcome.userId, familyId: outcome.familyId, revoked: outcome.revoked },
          'refresh token reused; family revoked',
        );
      }
      throw invalidRefresh();
    },

    async logout(refreshToken: string): Promise<void> {
      await db.transaction(async (client) => {
        const row = await repo.findRefreshToken(client, hashRefreshToken(refreshToken));
        if (row && (await repo.lockRefreshFamily(client, row.family_id)))
          await repo.revokeFamily(client, row.family_id);
      });
    },

    async me(userId: string): Promise<{ id: string; email: string; scopes: string[] }> {
      const user = await repo.findUserById(db, userId);
      if (!user) throw new AppError('UNAUTHORIZED', { detail: 'The account no longer exists.' });
      return { id: user.id, email: user.email, scopes: user.scopes };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
