import { createRequire } from 'node:module';
import { addon } from './addons.ts';
import { onThread } from './wasm-pool.ts';

/**
 * bcrypt, for verifying passwords imported from a service that stored them so (`npm run
 * users:import`): @node-rs/bcrypt's Rust binding, asynchronous (libuv's pool, never the event
 * loop), loaded on the first bcrypt hash met. ferrite never makes bcrypt hashes: a user's is
 * replaced by argon2id at their next login.
 *
 * As with jsonwebtoken (native/jwt.ts), the umbrella package cannot be installed with `npm ci`
 * here (the registry lacks most of its per-platform binaries, leaving the lock file incomplete),
 * so the project depends on the Linux x64 glibc binary directly (optionalDependencies); the
 * registry has no musl build of this version.
 */

// $2a$, $2b$, $2x$, $2y$; a two-digit cost; 22 characters of salt and 31 of hash.
const BCRYPT = /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/;

interface Binding {
  verify(password: string, hash: string): Promise<boolean>;
}

export function isBcrypt(hash: string): boolean {
  return BCRYPT.test(hash);
}

let binding: Binding | undefined;

function load(): Binding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  // Elsewhere, hash-wasm's bcrypt (WebAssembly) on worker threads.
  binding = addon(
    'bcrypt',
    () => require('@node-rs/bcrypt-linux-x64-gnu') as Binding,
    'hash-wasm (WebAssembly, worker threads)',
  ) ?? { verify: (password, hash) => onThread<boolean>({ op: 'bcryptVerify', password, hash }) };
  return binding;
}

/** False for a wrong password or an unreadable hash. */
export async function verifyBcrypt(hash: string, password: string): Promise<boolean> {
  return load()
    .verify(password, hash)
    .catch(() => false);
}
