import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import type { TokenVerifier } from '../../http/auth.ts';
import type { Logger } from '../../log.ts';
import { eitherTokens, LegacyTokens } from './auth.legacy.ts';
import { LoginLimiter } from './auth.limiter.ts';
import { authRoutes } from './auth.routes.ts';
import { createAuthService } from './auth.service.ts';
import { AccessTokens } from './auth.tokens.ts';

// Account creation alone, with registration's rules: for the operator's `npm run user:create`,
// which issues no tokens and needs no signing key.
export { checkAccount, createAccounts, type NewAccount, type PublicUser } from './auth.accounts.ts';
// Users of the replaced service with their existing hashes, for `npm run users:import`.
export { type ImportedUser, type ImportOutcome, importAccounts, readImportRecord } from './auth.import.ts';
export type { AuthService } from './auth.service.ts';

export interface AuthModuleDeps {
  db: Database;
  config: Config;
  log: Logger;
}

/**
 * The auth module's door: accounts, login, refresh and logout. Gives its routes, the service
 * (the operator CLI creates accounts through it) and the token verifier every other module
 * authenticates callers with (`http/auth.ts`).
 */
export function createAuth({ db, config, log }: AuthModuleDeps) {
  const own = new AccessTokens(config);
  const service = createAuthService({ db, config, tokens: own, limiter: new LoginLimiter(db, config), log });
  // During a migration, the replaced service's tokens too (LEGACY_JWT_*), told apart by `kid`.
  const tokens: TokenVerifier = config.LEGACY_JWT_ALGORITHM
    ? eitherTokens(own, config.JWT_KEY_ID, new LegacyTokens(config, (id) => service.provisionLegacyUser(id)))
    : own;
  return { tokens, service, routes: authRoutes(service, tokens) };
}
