import { randomBytes } from 'node:crypto';
import { withSession } from './session.ts';

export interface ScratchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database on the server behind `adminUrl`, for tests and the performance lab,
 * so runs never see each other's rows; `drop()` removes it even while clients are connected.
 */
export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const run = (sql: string) =>
    withSession(adminUrl, 'ferrite-scratch', async (client) => {
      await client.query(sql);
    });
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
