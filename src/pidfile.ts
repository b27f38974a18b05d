import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the primary records its pid, so `npm run reload` can find it (with or without PM2). */
export function pidFilePath(dataDir: string): string {
  return path.join(dataDir, 'ferrite.pid');
}

export function writePidFile(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const file = pidFilePath(dataDir);
  writeFileSync(file, `${process.pid}\n`);
  process.once('exit', () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  });
}

export function readPidFile(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFilePath(dataDir), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
