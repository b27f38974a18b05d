import pg from 'pg';

/** A session of its own, outside the pool: what `withSession` lends. */
export type Session = pg.ClientBase;

/**
 * A single short-lived session (migrations, creating or dropping a database, an operator's
 * command), ended when `fn` settles: for work that is neither pooled nor listening.
 */
export async function withSession<T>(
  connectionString: string,
  applicationName: string,
  fn: (client: Session) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString, application_name: applicationName });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
