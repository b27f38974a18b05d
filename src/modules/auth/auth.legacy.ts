// Access tokens minted by the service ferrite replaces (issue 15), accepted alongside ferrite's
// own during a migration, so existing clients keep working while routes move. The legacy's
// conventions are configured, not assumed: algorithm and key, issuers, audience, an optional
// `kid`, the claims holding the user's id and scopes, and a map from its scope names to ferrite's.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SCOPES } from '../../config/scopes.ts';
import type { Config } from '../../config.ts';
import { type AuthUser, type TokenVerifier, unauthorized } from '../../http/auth.ts';
import { decodeHeader, type JwtAlgorithm, verifyJwtSync } from '../../native/jwt.ts';
import { checkTimes, LEEWAY_SECONDS, type Verified, VerifiedTokens } from './auth.tokens.ts';

// Users known to have an account, per worker (their first request made it): bounded, oldest out.
const ADMITTED_MAX = 10_000;
// A fixed namespace for the ids of legacy users (RFC 9562 UUIDv5): the same issuer and legacy
// id give the same ferrite id here and in `npm run users:import`.
const LEGACY_NAMESPACE = Buffer.from('5b0f7e2c9d4a4c1e8f3b6a7d2e1c9b40', 'hex');

/** ferrite's id for the legacy user `id` of `issuer`: a name-based UUID (v5). */
export function legacyUserId(issuer: string, id: string): string {
  const hash = createHash('sha1').update(LEGACY_NAMESPACE).update(`${issuer}\0${id}`).digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `legacy=scope[+scope…]` pairs as a lookup. */
export function scopeMap(pairs: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const pair of pairs) {
    const [from, to] = pair.split('=');
    if (from && to) map.set(from, to.split('+'));
  }
  return map;
}

/**
 * Verifies the legacy service's access tokens as configured, and gives each of its users a
 * ferrite account (no password) on their first request, so what they create has an owner.
 */
/** The legacy's scopes (a space-separated string or an array) as ferrite's, mapped or dropped. */
export function legacyScopes(value: unknown, map: ReadonlyMap<string, string[]>): string[] {
  const names =
    typeof value === 'string'
      ? value.split(' ')
      : Array.isArray(value)
        ? value.filter((v): v is string => typeof v === 'string')
        : [];
  const out = new Set<string>();
  for (const name of names) {
    const mapped = map.get(name);
    if (mapped) for (const s of mapped) out.add(s);
    else if ((SCOPES as readonly string[]).includes(name)) out.add(name);
  }
  return [...out];
}

export class LegacyTokens implements TokenVerifier {
  readonly #verified = new VerifiedTokens();
  /** The callers this verifier made: `admit` acts on these only. */
  readonly #issued = new WeakSet<AuthUser>();
  readonly #admitted = new Set<string>();
  readonly #provision: (userId: string) => Promise<void>;
  readonly #alg: JwtAlgorithm;
  readonly #key: string | Buffer;
  readonly #issuers: string[];
  readonly #audience: string | undefined;
  readonly #kid: string | undefined;
  readonly #userClaim: string;
  readonly #scopesClaim: string;
  readonly #map: Map<string, string[]>;

  constructor(cfg: Config, provision: (userId: string) => Promise<void>) {
    this.#provision = provision;
    const alg = cfg.LEGACY_JWT_ALGORITHM;
    if (!alg) throw new Error('LEGACY_JWT_ALGORITHM is unset');
    this.#alg = alg;
    this.#key =
      alg === 'HS256'
        ? (cfg.LEGACY_JWT_SECRET as string)
        : readFileSync(cfg.LEGACY_JWT_PUBLIC_KEY_FILE as string);
    this.#issuers = [...cfg.LEGACY_JWT_ISSUERS];
    this.#audience = cfg.LEGACY_JWT_AUDIENCE;
    this.#kid = cfg.LEGACY_JWT_KEY_ID;
    this.#userClaim = cfg.LEGACY_JWT_USER_CLAIM;
    this.#scopesClaim = cfg.LEGACY_JWT_SCOPES_CLAIM;
    this.#map = scopeMap(cfg.LEGACY_JWT_SCOPE_MAP);
  }

  verify(token: string): AuthUser {
    return this.#verified.get(token) ?? this.#verified.add(token, this.#verifyFully(token));
  }

  admit(user: AuthUser): Promise<void> | undefined {
    if (!this.#issued.has(user) || this.#admitted.has(user.id)) return undefined;
    return this.#provision(user.id).then(() => {
      if (this.#admitted.size >= ADMITTED_MAX)
        this.#admitted.delete(this.#admitted.values().next().value as string);
      this.#admitted.add(user.id);
    });
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
    if (header.keyId !== undefined && this.#kid !== undefined && header.keyId !== this.#kid) {
      throw unauthorized('The access token was signed with an unknown key.');
    }
    let claims: Record<string, unknown>;
    try {
      claims = verifyJwtSync(token, this.#key, {
        algorithms: [this.#alg],
        iss: this.#issuers,
        ...(this.#audience ? { aud: [this.#audience] } : {}),
        leeway: LEEWAY_SECONDS,
        validateExp: true,
        validateNbf: true,
        requiredSpecClaims: ['exp', 'iss', ...(this.#audience ? ['aud'] : [])],
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'invalid';
      throw unauthorized(
        reason === 'ExpiredSignature' ? 'The access token has expired.' : 'The access token is invalid.',
      );
    }
    const id = claims[this.#userClaim];
    const { iss, exp, iat, nbf } = claims;
    if (
      (typeof id !== 'string' && typeof id !== 'number') ||
      String(id) === '' ||
      typeof iss !== 'string' ||
      typeof exp !== 'number'
    ) {
      throw unauthorized('The access token lacks required claims.');
    }
    checkTimes(iat, nbf);
    // Shared by every request that presents this token: frozen, so none can change it.
    const user: AuthUser = Object.freeze({
      id: legacyUserId(iss, String(id)),
      scopes: Object.freeze(legacyScopes(claims[this.#scopesClaim], this.#map)) as string[],
      // Legacy tokens need not carry a jti: the token's own hash names it.
      tokenId:
        typeof claims.jti === 'string' ? claims.jti : createHash('sha256').update(token).digest('base64url'),
      expiresAt: exp * 1000,
    });
    this.#issued.add(user);
    return { user, exp, nbf: nbf as number | undefined };
  }
}

/**
 * ferrite's own tokens and the legacy's behind one verifier: a token with ferrite's `kid` is
 * ferrite's (and only checked as such); any other goes to the legacy verifier.
 */
export function eitherTokens(own: TokenVerifier, ownKeyId: string, legacy: TokenVerifier): TokenVerifier {
  return {
    verify(token) {
      let keyId: string | undefined;
      try {
        keyId = decodeHeader(token).keyId;
      } catch {
        throw unauthorized('The access token is malformed.');
      }
      return keyId === ownKeyId ? own.verify(token) : legacy.verify(token);
    },
    admit: (user) => legacy.admit?.(user),
  };
}
