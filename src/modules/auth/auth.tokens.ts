import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import type { Config, Scope } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { decodeHeader, type JwtAlgorithm, signJwt, verifyJwtSync } from '../../native/jwt.ts';

export interface AuthUser {
  id: string;
  scopes: string[];
  tokenId: string;
  /** When the access token expires (ms since the epoch): streams it opened end then. */
  expiresAt: number;
}

declare global {
  namespace Express {
    interface Request {
      user?: AuthUser;
    }
  }
}

// Clock skew tolerated on exp/nbf/iat between hosts.
const LEEWAY_SECONDS = 30;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function unauthorized(detail: string): AppError {
  return new AppError('UNAUTHORIZED', {
    detail,
    headers: { 'WWW-Authenticate': 'Bearer realm="ferrite", error="invalid_token"' },
  });
}

// Verified access tokens kept per worker: a client sends the same token on every request until
// it expires, and verifying its signature again was ~14 % of a worker's CPU on /api/stats (issue
// 12's profile). Only tokens that passed every check are kept, keyed by the whole token, and the
// time checks (exp, nbf) are made again on each use. Oldest first out when full.
const VERIFIED_MAX = 10_000;

interface Verified {
  user: AuthUser;
  /** Seconds since the epoch, as in the claims. */
  exp: number;
  nbf: number | undefined;
}

/** Access tokens (JWT) signed and verified by the Rust addon, with one allowed algorithm and key id. */
export class AccessTokens {
  readonly #verified = new Map<string, Verified>();
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
    const known = this.#verified.get(token);
    if (known) {
      const now = Date.now() / 1000;
      if (
        known.exp + LEEWAY_SECONDS > now &&
        (known.nbf === undefined || known.nbf <= now + LEEWAY_SECONDS)
      ) {
        return known.user;
      }
      // Expired or not yet valid: the full check below says which.
      this.#verified.delete(token);
    }
    const verified = this.#verifyFully(token);
    if (this.#verified.size >= VERIFIED_MAX) {
      this.#verified.delete(this.#verified.keys().next().value as string);
    }
    this.#verified.set(token, verified);
    return verified.user;
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
    const now = Date.now() / 1000;
    if (typeof iat === 'number' && iat > now + LEEWAY_SECONDS) {
      throw unauthorized('The access token was issued in the future.');
    }
    // Checked here too, whatever the addon makes of an nbf that is not a number.
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + LEEWAY_SECONDS)) {
      throw unauthorized('The access token is not valid yet.');
    }
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

// The scheme name is case-insensitive (RFC 9110 §11.1); the token is a JWT's base64url parts.
const BEARER = /^Bearer +([A-Za-z0-9_.=-]+)$/i;

/** The access token in `Authorization: Bearer <token>`, if the request carries one. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/** Requires `Authorization: Bearer <access token>`; sets req.user. */
export function authenticate(tokens: AccessTokens) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const token = bearerToken(req);
    if (!token) {
      next(unauthorized('Send an access token as "Authorization: Bearer <token>".'));
      return;
    }
    req.user = tokens.verify(token);
    next();
  };
}

export function hasScopes(granted: readonly string[], required: readonly Scope[]): boolean {
  return granted.includes('admin') || required.every((s) => granted.includes(s));
}

/** 403 unless the authenticated user holds every scope listed (admin holds all). */
export function requireScope(...required: Scope[]) {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!req.user) {
      next(unauthorized('Authentication required.'));
      return;
    }
    if (!hasScopes(req.user.scopes, required)) {
      next(
        new AppError('FORBIDDEN', {
          detail: `This requires the scope${required.length > 1 ? 's' : ''} ${required.join(', ')}.`,
          extensions: { requiredScopes: required },
        }),
      );
      return;
    }
    next();
  };
}
