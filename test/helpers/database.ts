import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../src/db/scratch.ts';
import { createLogger } from '../../src/log.ts';

let server: Promise<{ adminUrl: string; stop: () => Promise<void> }> | undefined;

/** A Postgres server for this test file: DATABASE_URL when set, else an embedded one. */
function postgresServer() {
  server ??= (async () => {
    if (process.env.DATABASE_URL) {
      return { adminUrl: process.env.DATABASE_URL, stop: async () => undefined };
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-test-pg-'));
    await chmod(dir, 0o755);
    // A rejection here rejects the file's `before` hook, which fails every test of the file.
    const embedded: EmbeddedPostgres = await startEmbeddedPostgres(dir, 0, createLogger('silent', {})).catch(
      async (err: unknown) => {
        await rm(dir, { recursive: true, force: true });
        throw new Error(`the test Postgres did not start under ${dir}`, { cause: err });
      },
    );
    return {
      adminUrl: embedded.url,
      stop: async () => {
        await embedded.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  })();
  return server;
}

export type TestDatabase = ScratchDatabase;

/** Test databases created and not yet dropped. */
let live = 0;

/** A fresh, empty database on the test server, so test files never see each other's rows. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { adminUrl } = await postgresServer();
  const db = await createScratchDatabase(adminUrl, 'ferrite_test');
  live++;
  let dropped = false;
  return {
    ...db,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      live--;
      await db.drop();
    },
  };
}

export async function stopPostgresServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (s) await (await s).stop();
}

let held = false;

/**
 * One server for the whole file, stopped when the file ends: for files whose suites each create
 * their databases (each suite would otherwise start its own embedded server).
 */
export function usePostgresServer(): void {
  held = true;
  after(() => stopPostgresServer());
}

/** Stops an embedded server once every test database on it is dropped, unless the file holds it. */
export async function releasePostgresServer(): Promise<void> {
  if (!held && live === 0) await stopPostgresServer();
}

/**
 * For a test file that needs one fresh database: creates it before the file's tests, drops it
 * (and stops an embedded server) after them. Read `url` in tests and describe-level hooks:
 * file-level `before` hooks may run before this one.
 */
export function useTestDatabase(): { readonly url: string } {
  let db: TestDatabase | undefined;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
    await releasePostgresServer();
  });
  return {
    get url(): string {
      if (!db) throw new Error('the test database exists only once the before hook has run');
      return db.url;
    },
  };
}
