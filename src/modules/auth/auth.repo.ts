import { one, type Queryable } from '../../db/pool.ts';

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  scopes: string[];
  created_at: Date;
}

export interface RefreshTokenRow {
  id: string;
  family_id: string;
  user_id: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

/**
 * The account of a legacy service's user first seen by its token (issue 15): no password (`!`
 * matches no hash format, so it cannot log in) until `npm run users:import` brings theirs.
 */
export async function provisionLegacyUser(db: Queryable, id: string): Promise<void> {
  await db.query(`INSERT INTO users (id, email, password_hash) VALUES ($1, $2, '!') ON CONFLICT DO NOTHING`, [
    id,
    `${id}@legacy.invalid`,
  ]);
}

export type ImportOutcome = 'imported' | 'completed' | 'present' | 'email-taken';

/**
 * A user brought over from the replaced service (`npm run users:import`), under the id their
 * legacy tokens map to: inserted; or filling in the password-less account their token made
 * (`completed`); or left alone when they are already here (`present`: a second import never
 * undoes a password changed since). `email-taken`: another account has the email.
 */
export async function importUser(
  db: Queryable,
  user: { id: string; email: string; passwordHash: string; scopes: string[] },
): Promise<ImportOutcome> {
  const taken = await one<{ id: string }>(db, 'SELECT id FROM users WHERE email = $1 AND id <> $2', [
    user.email,
    user.id,
  ]);
  if (taken) return 'email-taken';
  try {
    const row = await one<{ inserted: boolean }>(
      db,
      `INSERT INTO users (id, email, password_hash, scopes) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE
         SET email = EXCLUDED.email, password_hash = EXCLUDED.password_hash,
             scopes = EXCLUDED.scopes, updated_at = now()
         WHERE users.password_hash = '!'
       RETURNING (xmax = 0) AS inserted`,
      [user.id, user.email, user.passwordHash, user.scopes],
    );
    if (!row) return 'present';
    return row.inserted ? 'imported' : 'completed';
  } catch (err) {
    // Another account took the email between the check and the insert.
    if ((err as { code?: string }).code === '23505') return 'email-taken';
    throw err;
  }
}

/** Inserts a user; resolves undefined when the email is taken. */
export async function insertUser(
  db: Queryable,
  user: { email: string; passwordHash: string; scopes: string[] },
): Promise<UserRow | undefined> {
  return one<UserRow>(
    db,
    `INSERT INTO users (email, password_hash, scopes) VALUES ($1, $2, $3)
     ON CONFLICT (email) DO NOTHING
     RETURNING id, email, password_hash, scopes, created_at`,
    [user.email, user.passwordHash, user.scopes],
  );
}

export async function findUserByEmail(db: Queryable, email: string): Promise<UserRow | undefined> {
  return one<UserRow>(db, 'SELECT id, email, password_hash, scopes, created_at FROM users WHERE email = $1', [
    email,
  ]);
}

export async function findUserById(db: Queryable, id: string): Promise<UserRow | undefined> {
  return one<UserRow>(db, 'SELECT id, email, password_hash, scopes, created_at FROM users WHERE id = $1', [
    id,
  ]);
}

/** Replaces a hash only if it is still the one we verified, so a concurrent change wins. */
export async function updatePasswordHash(db: Queryable, id: string, from: string, to: string): Promise<void> {
  await db.query(
    'UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2',
    [id, from, to],
  );
}

export async function insertRefreshFamily(db: Queryable, f: { id: string; userId: string }): Promise<void> {
  await db.query('INSERT INTO refresh_token_families (id, user_id) VALUES ($1, $2)', [f.id, f.userId]);
}

/**
 * Locks a family's row for the rest of the transaction: rotation, reuse revocation and logout
 * of one family run one at a time, and each sees what the previous one committed.
 */
export async function lockRefreshFamily(
  db: Queryable,
  id: string,
): Promise<{ id: string; revoked_at: Date | null } | undefined> {
  return one<{ id: string; revoked_at: Date | null }>(
    db,
    'SELECT id, revoked_at FROM refresh_token_families WHERE id = $1 FOR UPDATE',
    [id],
  );
}

export async function insertRefreshToken(
  db: Queryable,
  t: { hash: Buffer; familyId: string; parentId: string | null; userId: string; ttlSeconds: number },
): Promise<void> {
  await db.query(
    `INSERT INTO refresh_tokens (token_hash, family_id, parent_id, user_id, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
    [t.hash, t.familyId, t.parentId, t.userId, t.ttlSeconds],
  );
}

/** A token's row as committed now (no lock: its family's lock is what serialises). */
export async function findRefreshToken(db: Queryable, hash: Buffer): Promise<RefreshTokenRow | undefined> {
  return one<RefreshTokenRow>(
    db,
    `SELECT id, family_id, user_id, expires_at, used_at, revoked_at
     FROM refresh_tokens WHERE token_hash = $1`,
    [hash],
  );
}

export async function markRefreshTokenUsed(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [id]);
}

/** Revokes the family and every token in it; call with the family's row locked. */
export async function revokeFamily(db: Queryable, familyId: string): Promise<number> {
  const res = await db.query(
    `WITH family AS (
       UPDATE refresh_token_families SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
     )
     UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`,
    [familyId],
  );
  return res.rowCount ?? 0;
}
