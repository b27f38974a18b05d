// Users of the service ferrite replaces, brought over with their existing password hashes
// (`npm run users:import`, issue 15): bcrypt or argon2 hashes are stored as they are, verified as
// they are at login and replaced by ferrite's argon2id then. A user's id is the one their legacy
// tokens map to, so what they created with a token before the import stays theirs.
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { isKnownHash } from '../../native/argon2.ts';
import { isEmail, normaliseEmail } from './auth.accounts.ts';
import { legacyScopes, legacyUserId, scopeMap } from './auth.legacy.ts';
import * as repo from './auth.repo.ts';

export type { ImportOutcome } from './auth.repo.ts';

const MAX_ID_LENGTH = 256;

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: `${path}: ${message}`,
    extensions: { errors: [{ in: 'body', path, message }] },
  });
}

/** One record of the import: what the legacy service knows of a user. */
export interface ImportedUser {
  id: string;
  email: string;
  passwordHash: string;
  scopes: string[];
  issuer: string;
}

/**
 * Checks one parsed NDJSON record: `id` (string or integer), `email`, `passwordHash` (or
 * `password_hash`; bcrypt or argon2 in PHC form), optional `scopes` (string or array, mapped by
 * LEGACY_JWT_SCOPE_MAP; DEFAULT_SCOPES when absent) and `issuer` (else `defaultIssuer`).
 */
export function readImportRecord(
  record: unknown,
  config: Config,
  defaultIssuer: string | undefined,
): ImportedUser {
  if (!record || typeof record !== 'object' || Array.isArray(record)) throw invalid('/', 'must be an object');
  const r = record as Record<string, unknown>;
  const id = r.id;
  if (
    !(typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH) &&
    !(typeof id === 'number' && Number.isSafeInteger(id))
  ) {
    throw invalid('/id', `must be a non-empty string of at most ${MAX_ID_LENGTH} characters or an integer`);
  }
  const email = typeof r.email === 'string' ? normaliseEmail(r.email) : '';
  if (!isEmail(email)) throw invalid('/email', 'must be an email address');
  const hash = r.passwordHash ?? r.password_hash;
  if (typeof hash !== 'string' || !isKnownHash(hash)) {
    throw invalid('/passwordHash', 'must be a bcrypt ($2a$/$2b$/$2y$) or argon2 (PHC) hash');
  }
  const issuer = r.issuer ?? defaultIssuer;
  if (typeof issuer !== 'string' || issuer === '') {
    throw invalid('/issuer', 'is needed: in the record, with --issuer, or from LEGACY_JWT_ISSUERS');
  }
  const scopes =
    r.scopes === undefined
      ? [...config.DEFAULT_SCOPES]
      : legacyScopes(r.scopes, scopeMap(config.LEGACY_JWT_SCOPE_MAP));
  return { id: String(id), email, passwordHash: hash, scopes, issuer };
}

export function importAccounts({ db }: { db: Database }) {
  return {
    importUser(user: ImportedUser) {
      return repo.importUser(db, {
        id: legacyUserId(user.issuer, user.id),
        email: user.email,
        passwordHash: user.passwordHash,
        scopes: user.scopes,
      });
    },
  };
}
