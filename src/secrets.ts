import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from './log.ts';

/**
 * Outside production, a missing JWT_SECRET is replaced by a random one kept in DATA_DIR, so a
 * development install works with no set-up and keeps its sessions across restarts. The primary
 * creates it before forking, so every worker signs with the same key.
 */
export async function ensureDevJwtSecret(dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, 'dev-jwt-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(48).toString('base64url');
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  log.warn({ file }, 'created a development JWT secret; set JWT_SECRET in production');
  return secret;
}
