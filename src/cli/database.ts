// The service's database for an operator's command: DATABASE_URL when set, else the embedded
// server under DATA_DIR (the running one, or started just for the command and stopped after);
// migrated first, so a command can run before the service ever has.
import type { Config } from '../config.ts';
import { runningEmbeddedUrl, startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { type Database, openDatabase } from '../db/pool.ts';
import { createLogger } from '../log.ts';

export async function withServiceDatabase<T>(
  cfg: Config,
  applicationName: string,
  work: (db: Database) => Promise<T>,
): Promise<T> {
  const log = createLogger('warn', { role: 'cli' });
  let url = cfg.DATABASE_URL ?? (await runningEmbeddedUrl(cfg.DATA_DIR));
  const embedded = url ? undefined : await startEmbeddedPostgres(cfg.DATA_DIR, cfg.EMBEDDED_PG_PORT, log);
  url ??= embedded?.url as string;
  try {
    await migrate(url, log);
    const db = openDatabase(cfg, { connectionString: url, max: 1, applicationName }, log);
    try {
      return await work(db);
    } finally {
      await db.close();
    }
  } finally {
    await embedded?.stop();
  }
}
