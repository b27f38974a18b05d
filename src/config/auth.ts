import { z } from 'zod';
import { bool, int, list, listOf, optionalString } from './parsers.ts';
import { SCOPES } from './scopes.ts';

export { SCOPES, type Scope } from './scopes.ts';

export const authKeys = {
  JWT_ALGORITHM: z
    .enum(['HS256', 'EdDSA'])
    .default('HS256')
    .describe('`HS256` (shared secret) or `EdDSA` (key pair) for access tokens'),
  JWT_SECRET: optionalString.describe(
    'HS256 key; production refuses to start when missing, shorter than 32 characters or a placeholder; elsewhere a random one is kept in `DATA_DIR/dev-jwt-secret`',
  ),
  JWT_PRIVATE_KEY_FILE: optionalString.describe('EdDSA: PEM private key (signing)'),
  JWT_PUBLIC_KEY_FILE: optionalString.describe('EdDSA: PEM public key (verification)'),
  JWT_KEY_ID: z
    .string()
    .min(1)
    .max(64)
    .default('ferrite-1')
    .describe('`kid` put in and required of every access token'),
  JWT_ISSUER: z.string().min(1).default('ferrite').describe('`iss` claim'),
  JWT_AUDIENCE: z.string().min(1).default('ferrite').describe('`aud` claim'),
  ACCESS_TOKEN_TTL_SECONDS: int(900, 30, 86_400).describe('access token lifetime'),
  REFRESH_TOKEN_TTL_SECONDS: int(2_592_000, 60).describe('refresh token lifetime (30 days)'),
  ARGON2_MEMORY_KIB: int(19_456, 8, 4_194_304).describe(
    'argon2id memory (OWASP: m=19456, t=2, p=1); changing any of the three rehashes on next login',
  ),
  ARGON2_TIME_COST: int(2, 1, 100).describe('argon2id iterations'),
  ARGON2_PARALLELISM: int(1, 1, 16).describe('argon2id lanes'),
  ARGON2_CONCURRENCY: int(1, 1, 64).describe(
    'hashes one worker computes at once; more wait, up to `ARGON2_QUEUE_MAX` (measured: 1 keeps `/api/health` p99 at 14 ms during 50 concurrent logins on 2 cores, where 4 gave 42 ms, and logs in faster)',
  ),
  ARGON2_QUEUE_MAX: int(32, 0, 100_000).describe(
    'hashes one worker lets wait behind those running; a login or registration beyond answers 429 `TOO_MANY_REQUESTS` with `Retry-After`',
  ),
  REGISTRATION_ENABLED: bool(true).describe(
    '`false`: `POST /api/auth/register` answers 403; accounts come from `npm run user:create`',
  ),
  REGISTER_MAX_PER_IP: int(10, 1).describe(
    'registration attempts per client IP per `REGISTER_WINDOW_SECONDS` (every attempt counts, 409s too) before 429',
  ),
  REGISTER_WINDOW_SECONDS: int(3600, 1).describe('the registration-limit window'),
  DEFAULT_SCOPES: listOf('miner:read,projects:read,projects:write', SCOPES, {
    problem: (scope) => `unknown scope ${scope}`,
  }).describe('scopes of a newly registered account'),
  LOGIN_MAX_FAILURES_PER_CLIENT: int(5, 1).describe(
    'failed logins for one email from one client IP per window before that pair gets 429 (the account stays open to other addresses)',
  ),
  LOGIN_EMAIL_SLOWDOWN_AFTER: int(20, 1).describe(
    'failed logins for one email from all addresses per window after which every attempt for it is slowed…',
  ),
  LOGIN_EMAIL_SLOWDOWN_MS: int(2000, 0, 60_000).describe(
    '…by this long before the password is checked (never refused)',
  ),
  LOGIN_MAX_ATTEMPTS_PER_IP: int(50, 1).describe('login attempts per client IP per window before 429'),
  LOGIN_WINDOW_SECONDS: int(900, 1).describe('the login-limit window'),
  LEGACY_JWT_ALGORITHM: z
    .enum(['HS256', 'RS256', 'EdDSA'])
    .optional()
    .describe(
      "accept access tokens the service ferrite replaces minted, alongside ferrite's own (told apart by `kid`); unset: only ferrite's",
    ),
  LEGACY_JWT_SECRET: optionalString.describe("HS256: the legacy service's signing secret"),
  LEGACY_JWT_PUBLIC_KEY_FILE: optionalString.describe('RS256 or EdDSA: its PEM public key'),
  LEGACY_JWT_ISSUERS: list().describe('`iss` values accepted (at least one when legacy tokens are on)'),
  LEGACY_JWT_AUDIENCE: optionalString.describe('`aud` required when set; unset: not checked'),
  LEGACY_JWT_KEY_ID: optionalString.describe(
    'when set, a legacy token that carries a `kid` must carry this one (one without is accepted)',
  ),
  LEGACY_JWT_USER_CLAIM: z
    .string()
    .min(1)
    .default('sub')
    .describe(
      "the claim with the legacy user's id (any string or number); ferrite's id for that user is a UUID derived from issuer and id, the one `npm run users:import` gives them",
    ),
  LEGACY_JWT_SCOPES_CLAIM: z
    .string()
    .min(1)
    .default('scope')
    .describe('the claim with its scopes: a space-separated string or an array'),
  LEGACY_JWT_SCOPE_MAP: list().describe(
    "`legacy=scope[+scope…]` pairs turning the legacy's scope names into ferrite's (e.g. `stats=miner:read,ops=miner:read+miner:control`); a legacy scope that is a ferrite scope keeps its name, any other is dropped",
  ),
};
