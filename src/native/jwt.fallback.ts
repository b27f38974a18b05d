// JWT on node:crypto (OpenSSL, part of Node itself): where no @node-rs/jsonwebtoken binary
// exists for the platform (native/addons.ts). The same API and the same checks as the Rust
// binding — algorithm pinned by the caller, signature, required claims, exp/nbf with leeway,
// issuer and audience — and the same error names, which callers read (`ExpiredSignature`).
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { Claims, JwtAlgorithm, JwtHeader, JwtValidation } from './jwt.types.ts';

const keys = new Map<string, KeyObject>();
/** A PEM key parsed once (a worker verifies with the same key for its whole life). */
function keyObject(key: string | Uint8Array, kind: 'private' | 'public'): KeyObject {
  const text = typeof key === 'string' ? key : Buffer.from(key).toString('utf8');
  const id = `${kind}\n${text}`;
  let k = keys.get(id);
  if (!k) {
    k = kind === 'private' ? createPrivateKey(text) : createPublicKey(text);
    if (keys.size < 16) keys.set(id, k);
  }
  return k;
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function parseSegment(segment: string | undefined): Record<string, unknown> {
  if (!segment || !/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error('InvalidToken');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new Error('InvalidToken');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('InvalidToken');
  return value as Record<string, unknown>;
}

export function decodeHeader(token: string): JwtHeader {
  const header = parseSegment(token.split('.')[0]);
  return {
    algorithm: header.alg as JwtAlgorithm | undefined,
    keyId: typeof header.kid === 'string' ? header.kid : undefined,
  };
}

function signature(alg: JwtAlgorithm, input: string, key: string | Uint8Array): Buffer {
  if (alg === 'HS256') return createHmac('sha256', key).update(input).digest();
  return sign(alg === 'RS256' ? 'sha256' : null, Buffer.from(input), keyObject(key, 'private'));
}

export function signSync(claims: Claims, key: string | Uint8Array, header: JwtHeader = {}): string {
  const alg = header.algorithm ?? 'HS256';
  const input = `${part({ alg, typ: 'JWT', ...(header.keyId ? { kid: header.keyId } : {}) })}.${part(claims)}`;
  return `${input}.${signature(alg, input, key).toString('base64url')}`;
}

function signatureHolds(alg: JwtAlgorithm, input: string, sig: Buffer, key: string | Uint8Array): boolean {
  if (alg === 'HS256') {
    const expected = createHmac('sha256', key).update(input).digest();
    return expected.length === sig.length && timingSafeEqual(expected, sig);
  }
  return verify(alg === 'RS256' ? 'sha256' : null, Buffer.from(input), keyObject(key, 'public'), sig);
}

export function verifySync(token: string, key: string | Uint8Array, v: JwtValidation = {}): Claims {
  const segments = token.split('.');
  if (segments.length !== 3) throw new Error('InvalidToken');
  const [head, body, sig] = segments as [string, string, string];
  const header = parseSegment(head);
  const alg = header.alg as JwtAlgorithm;
  if (!v.algorithms?.includes(alg)) throw new Error('InvalidAlgorithm');
  if (!/^[A-Za-z0-9_-]*$/.test(sig)) throw new Error('InvalidToken');
  let holds: boolean;
  try {
    holds = signatureHolds(alg, `${head}.${body}`, Buffer.from(sig, 'base64url'), key);
  } catch {
    holds = false;
  }
  if (!holds) throw new Error('InvalidSignature');
  const claims = parseSegment(body);
  for (const name of v.requiredSpecClaims ?? []) {
    if (claims[name] === undefined) throw new Error('MissingRequiredClaim');
  }
  const now = Math.floor(Date.now() / 1000);
  const leeway = v.leeway ?? 60;
  if (v.validateExp !== false && claims.exp !== undefined) {
    if (typeof claims.exp !== 'number') throw new Error('InvalidToken');
    if (claims.exp < now - leeway) throw new Error('ExpiredSignature');
  }
  if (v.validateNbf && claims.nbf !== undefined) {
    if (typeof claims.nbf !== 'number') throw new Error('InvalidToken');
    if (claims.nbf > now + leeway) throw new Error('ImmatureSignature');
  }
  if (v.iss && (typeof claims.iss !== 'string' || !v.iss.includes(claims.iss)))
    throw new Error('InvalidIssuer');
  if (v.aud) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.some((a) => typeof a === 'string' && v.aud?.includes(a))) throw new Error('InvalidAudience');
  }
  return claims;
}
