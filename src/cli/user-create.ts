// `npm run user:create -- --email a@b.c --scopes admin,miner:read`: creates an account without
// open registration. The password comes from stdin when it is not a terminal, else a prompt.
// Works against the service's database: DATABASE_URL when set, else the embedded one under
// DATA_DIR (the running one, or started just for this command).
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig, SCOPES } from '../config.ts';
import { runningEmbeddedUrl, startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase } from '../db/pool.ts';
import { createLogger } from '../log.ts';
import { insertUser } from '../modules/auth/auth.repo.ts';
import { isEmail, normaliseEmail } from '../modules/auth/auth.service.ts';
import { hashPassword } from '../native/argon2.ts';

function fail(message: string): never {
  process.stderr.write(`user:create: ${message}\n`);
  process.exit(1);
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let data = '';
    for await (const chunk of process.stdin) data += chunk;
    return data.replace(/\r?\n$/, '');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Echo nothing while the password is typed.
  const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
  let muted = false;
  out._writeToOutput = (s: string) => {
    if (!muted) out.output.write(s);
  };
  const ask = async (q: string) => {
    const answer = rl.question(q);
    muted = true;
    const value = await answer;
    muted = false;
    process.stderr.write('\n');
    return value;
  };
  const first = await ask('Password: ');
  const second = await ask('Repeat password: ');
  rl.close();
  if (first !== second) fail('the passwords differ');
  return first;
}

const { values } = parseArgs({
  options: { email: { type: 'string' }, scopes: { type: 'string', default: '' } },
  strict: true,
});
let cfg: ReturnType<typeof parseConfig>;
try {
  cfg = parseConfig();
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}
const email = normaliseEmail(values.email ?? '');
if (!isEmail(email)) fail('--email must be an email address');
const scopes = (values.scopes ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
if (unknown.length > 0) fail(`unknown scopes: ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`);

const password = await readPassword();
const length = [...password].length;
if (length < 12 || length > 256) fail('the password must be 12 to 256 characters long');

const log = createLogger('warn', { role: 'cli' });
let url = cfg.DATABASE_URL ?? (await runningEmbeddedUrl(cfg.DATA_DIR));
const embedded = url ? undefined : await startEmbeddedPostgres(cfg.DATA_DIR, cfg.EMBEDDED_PG_PORT, log);
url ??= embedded?.url as string;
let created: Awaited<ReturnType<typeof insertUser>>;
try {
  await migrate(url, log);
  const db = openDatabase(
    cfg,
    { connectionString: url, max: 1, applicationName: 'ferrite-user-create' },
    log,
  );
  try {
    const passwordHash = await hashPassword(password, {
      memoryCost: cfg.ARGON2_MEMORY_KIB,
      timeCost: cfg.ARGON2_TIME_COST,
      parallelism: cfg.ARGON2_PARALLELISM,
    });
    created = await insertUser(db, { email, passwordHash, scopes });
  } finally {
    await db.close();
  }
} finally {
  await embedded?.stop();
}
if (!created) fail(`an account with the email ${email} already exists`);
process.stdout.write(`${JSON.stringify({ id: created.id, email: created.email, scopes: created.scopes })}\n`);
