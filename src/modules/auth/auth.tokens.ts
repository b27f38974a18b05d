import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../config.ts';
import { type AuthUser, type TokenVerifier, unauthorized } from '../../http/auth.ts';
import { decodeHeader, type JwtAlgorithm, signJwt, verifyJwtSync } from '../../native/jwt.ts';

// Clock skew tolerated on exp/nbf/iat between hosts.
export const LEEWAY_SECONDS = 30;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Verified access tokens kept per worker: a client sends the same token on every request until
// it expires, and verifying its signature again was ~14 % of a worker's CPU on /api/stats (issue
// 12's profile). Only tokens that passed every check are kept, keyed by the whole token, and the
// time checks (exp, nbf) are made again on each use. Oldest first out when full.
const VERIFIED_MAX = 10_000;

export interface Verified {
  user: AuthUser;
  /** Seconds since the epoch, as in the claims. */
  exp: number;
  nbf: number | undefined;
}

/**
 * The time claims the addon leaves to us: `iat` not in the future, and `nbf` checked here too,
 * whatever the addon makes of one that is not a number (30 s of skew either way).
 */
export function checkTimes(iat: unknown, nbf: unknown): void {
  const now = Date.now() / 1000;
  if (typeof iat === 'number' && iat > now + LEEWAY_SECONDS) {
    throw unauthorized('The access token was issued in the future.');
  }
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + LEEWAY_SECONDS)) {
    throw unauthorized('The access token is not valid yet.');
  }
}

/** Tokens that passed every check, with their time checks made again on each use. */
export class VerifiedTokens {
  readonly #verified = new Map<string, Verified>();

  /** The caller of a token verified before and still in its time window. */
  get(token: string): AuthUser | undefined {
    const known = this.#verified.get(token);
    if (!known) return undefined;
    const now = Date.now() / 1000;
    if (known.exp + LEEWAY_SECONDS > now && (known.nbf === undefined || known.nbf <= now + LEEWAY_SECONDS)) {
      return known.user;
    }
    // Expired or not yet valid: the full check says which.
    this.#verified.delete(token);
    return undefined;
  }

  add(token: string, verified: Verified): AuthUser {
    if (this.#verified.size >= VERIFIED_MAX) {
      this.#verified.delete(this.#verified.keys().next().value as string);
    }
    this.#verified.set(token, verified);
    return verified.user;
  }
}

/** Access tokens (JWT) signed and verified by the Rust addon, with one allowed algorithm and key id. */
export class AccessTokens implements TokenVerifier {
  readonly #verified = new VerifiedTokens();
  readonly #alg: JwtAlgorithm;
  readonly #signKey: string | Buffer;
  readonly #verifyKey: string | Buffer;
  readonly #kid: string;
  readonly #iss: string;
  readonly #aud: string;
  readonly ttlSeconds: number;

  constructor(cfg: Config) {
    this.#alg = cfg.JWT_ALGORITHM;
    if (cfg.JWT_ALGORITHM === 'EdDSA') {
      this.#signKey = readFileSync(cfg.JWT_PRIVATE_KEY_FILE as string);
      this.#verifyKey = readFileSync(cfg.JWT_PUBLIC_KEY_FILE as string);
    } else {
      if (!cfg.JWT_SECRET) throw new Error('JWT_SECRET is required for HS256');
      this.#signKey = cfg.JWT_SECRET;
      this.#verifyKey = cfg.JWT_SECRET;
    }
    this.#kid = cfg.JWT_KEY_ID;
    this.#iss = cfg.JWT_ISSUER;
    this.#aud = cfg.JWT_AUDIENCE;
    this.ttlSeconds = cfg.ACCESS_TOKEN_TTL_SECONDS;
  }

  async issue(user: { id: string; scopes: readonly string[] }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(
      {
        sub: user.id,
        scope: user.scopes.join(' '),
        iat: now,
        exp: now + this.ttlSeconds,
        jti: randomUUID(),
        iss: this.#iss,
        aud: this.#aud,
      },
      this.#signKey,
      { algorithm: this.#alg, keyId: this.#kid },
    );
  }

  /** Verifies signature, algorithm, key id, issuer, audience, expiry and nbf; any failure is a 401. */
  verify(token: string): AuthUser {
    return this.#verified.get(token) ?? this.#verified.add(token, this.#verifyFully(token));
  }

  #verifyFully(token: string): Verified {
    let header: ReturnType<typeof decodeHeader>;
    try {
      header = decodeHeader(token);
    } catch {
      throw unauthorized('The access token is malformed.');
    }
    if (header.algorithm !== this.#alg)
      throw unauthorized('The access token uses an algorithm not accepted here.');
    if (header.keyId !== this.#kid) throw unauthorized('The access token was signed with an unknown key.');
    let claims: Record<string, unknown>;
    try {
      claims = verifyJwtSync(token, this.#verifyKey, {
        algorithms: [this.#alg],
        iss: [this.#iss],
        aud: [this.#aud],
        leeway: LEEWAY_SECONDS,
        validateExp: true,
        validateNbf: true,
        requiredSpecClaims: ['exp', 'sub', 'iss', 'aud'],
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'invalid';
      throw unauthorized(
        reason === 'ExpiredSignature' ? 'The access token has expired.' : 'The access token is invalid.',
      );
    }
    const { sub, scope, jti, iat, nbf, exp } = claims;
    if (
      typeof sub !== 'string' ||
      !UUID.test(sub) ||
      typeof scope !== 'string' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number'
    ) {
      throw unauthorized('The access token lacks required claims.');
    }
    checkTimes(iat, nbf);
    // Shared by every request that presents this token: frozen, so none can change it for the rest.
    const user: AuthUser = Object.freeze({
      id: sub,
      scopes: Object.freeze(scope.split(' ').filter(Boolean)) as string[],
      tokenId: jti,
      expiresAt: exp * 1000,
    });
    return { user, exp, nbf: nbf as number | undefined };
  }
}
