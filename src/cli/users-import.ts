// `npm run users:import -- FILE [--issuer ISS] [--dry-run]` (issue 15): brings the replaced
// service's users over with their existing password hashes. FILE is NDJSON (`-`: stdin), one
// user per line: {"id": …, "email": …, "passwordHash": "$2b$…" | "$argon2…", "scopes"?: …,
// "issuer"?: …}. Each user gets the id their legacy tokens map to (issuer + id); bcrypt and
// argon2 hashes are verified as they are at login and replaced by argon2id then. Running it
// again is safe: a user already here is left alone. Prints a summary as JSON; every refused line
// on stderr with its number; exits 1 when any line was refused.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../config.ts';
import type { Database } from '../db/pool.ts';
import { AppError } from '../errors.ts';
import { type ImportOutcome, importAccounts, readImportRecord } from '../modules/auth/index.ts';
import { withServiceDatabase } from './database.ts';

function fail(message: string): never {
  process.stderr.write(`users:import: ${message}\n`);
  process.exit(1);
}

const { values, positionals } = parseArgs({
  options: { issuer: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
  allowPositionals: true,
  strict: true,
});
if (positionals.length !== 1) fail('name one NDJSON file (or - for stdin)');
let cfg: ReturnType<typeof parseConfig>;
try {
  cfg = parseConfig();
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}
const issuer = values.issuer ?? cfg.LEGACY_JWT_ISSUERS[0];
const file = positionals[0] as string;
const input = file === '-' ? process.stdin : createReadStream(file);
input.on('error', (err) => fail(`${file}: ${err.message}`));

const counts: Record<Exclude<ImportOutcome, 'email-taken'> | 'refused', number> = {
  imported: 0,
  completed: 0,
  present: 0,
  refused: 0,
};
const refuse = (line: number, why: string) => {
  counts.refused++;
  process.stderr.write(`line ${line}: ${why}\n`);
};

async function importAll(db?: Database): Promise<void> {
  const accounts = db ? importAccounts({ db }) : undefined;
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      refuse(line, 'not JSON');
      continue;
    }
    try {
      const user = readImportRecord(record, cfg, issuer);
      if (!accounts) continue;
      const outcome = await accounts.importUser(user);
      if (outcome === 'email-taken') refuse(line, `another account has the email ${user.email}`);
      else counts[outcome]++;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      refuse(line, err.message);
    }
  }
}

// --dry-run: every line checked, nothing written (no database opened).
if (values['dry-run']) await importAll();
else await withServiceDatabase(cfg, 'ferrite-users-import', importAll);
process.stdout.write(`${JSON.stringify({ dryRun: values['dry-run'], issuer, ...counts })}\n`);
process.exit(counts.refused > 0 ? 1 : 0);
