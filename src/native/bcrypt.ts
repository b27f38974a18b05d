/**
 * bcrypt, for verifying passwords imported from a service that stored them so (`npm run
 * users:import`): the Rust addon `@node-rs/bcrypt`, asynchronous (libuv's pool, never the event
 * loop), loaded on the first bcrypt hash met. ferrite never makes bcrypt hashes: a user's is
 * replaced by argon2id at their next login.
 */

// $2a$, $2b$, $2x$, $2y$; a two-digit cost; 22 characters of salt and 31 of hash.
const BCRYPT = /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export function isBcrypt(hash: string): boolean {
  return BCRYPT.test(hash);
}

let addon: Promise<typeof import('@node-rs/bcrypt')> | undefined;

/** False for a wrong password or an unreadable hash. */
export async function verifyBcrypt(hash: string, password: string): Promise<boolean> {
  addon ??= import('@node-rs/bcrypt');
  const { verify } = await addon;
  return verify(password, hash).catch(() => false);
}
