import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.ts';
import { type Session, withSession } from './session.ts';

export const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');

// Arbitrary but fixed: every host that starts against the same database takes this lock.
const LOCK_KEY = 0x66657272; // "ferr"
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  /** The file name without `.sql`, e.g. `0001_users`. */
  id: string;
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new Error(`migration file name must look like 0001_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) {
      throw new Error(`duplicate migration version ${version}`);
    }
    const checksum = createHash('sha256').update(sql).digest('hex');
    migrations.push({ id: file.slice(0, -4), version, name: match[2] as string, sql, checksum });
  }
  return migrations;
}

/**
 * Applies pending migrations once, each in its own transaction, under a session advisory
 * lock so that several hosts starting together run them exactly once. An applied migration
 * whose file changed afterwards stops the start-up: history is never rewritten silently.
 */
export async function migrate(
  databaseUrl: string,
  log: Logger,
  dir: string = MIGRATIONS_DIR,
): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  return withSession(databaseUrl, 'ferrite-migrate', async (client) => {
    try {
      await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
      return await applyPending(client, migrations, log);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  });
}

async function applyPending(client: Session, migrations: Migration[], log: Logger): Promise<number[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied = new Map<number, string>();
  const rows = await client.query<{ version: number; checksum: string }>(
    'SELECT version, checksum FROM schema_migrations',
  );
  for (const row of rows.rows) applied.set(row.version, row.checksum);

  const ran: number[] = [];
  for (const m of migrations) {
    const checksum = applied.get(m.version);
    if (checksum !== undefined) {
      if (checksum !== m.checksum) {
        throw new Error(`migration ${m.id} changed after it was applied`);
      }
      continue;
    }
    await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw new Error(`migration ${m.id} failed`, { cause: err });
    }
    log.info({ version: m.version, name: m.name }, 'migration applied');
    ran.push(m.version);
  }
  return ran;
}
