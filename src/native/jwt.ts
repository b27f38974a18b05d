import { createRequire } from 'node:module';
import { addon } from './addons.ts';
import * as fallback from './jwt.fallback.ts';
import type { Claims, JwtHeader, JwtValidation } from './jwt.types.ts';

/**
 * @node-rs/jsonwebtoken (Rust). Its umbrella package cannot be installed with `npm ci` here:
 * the registry lacks most of its per-platform binaries, which leaves the lock file incomplete.
 * The project depends on the Linux x64 binaries directly (optionalDependencies) and loads the
 * one matching this system's libc; the API below mirrors the umbrella's index.d.ts.
 */
// The binding's types, shared with the node:crypto fallback.
export type { Claims, JwtAlgorithm, JwtHeader, JwtValidation } from './jwt.types.ts';

interface Binding {
  decodeHeader(token: string): JwtHeader;
  sign(claims: Claims, key: string | Uint8Array, header?: JwtHeader): Promise<string>;
  signSync(claims: Claims, key: string | Uint8Array, header?: JwtHeader): string;
  verify(token: string, key: string | Uint8Array, validation?: JwtValidation): Promise<Claims>;
  verifySync(token: string, key: string | Uint8Array, validation?: JwtValidation): Claims;
}

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !report?.header?.glibcVersionRuntime;
}

function load(): Binding {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `no prebuilt @node-rs/jsonwebtoken binary for ${process.platform}-${process.arch} in this project`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(`@node-rs/jsonwebtoken-linux-x64-${isMusl() ? 'musl' : 'gnu'}`) as Binding;
}

// Elsewhere (arm64, …), node:crypto: the same API and checks (native/jwt.fallback.ts).
const binding: Binding = addon('jsonwebtoken', load, 'node:crypto') ?? {
  ...fallback,
  sign: async (claims, key, header) => fallback.signSync(claims, key, header),
  verify: async (token, key, validation) => fallback.verifySync(token, key, validation),
};

export const decodeHeader = (token: string): JwtHeader => binding.decodeHeader(token);
export const signJwt = (claims: Claims, key: string | Uint8Array, header: JwtHeader): Promise<string> =>
  binding.sign(claims, key, header);
export const verifyJwtSync = (token: string, key: string | Uint8Array, validation: JwtValidation): Claims =>
  binding.verifySync(token, key, validation);
