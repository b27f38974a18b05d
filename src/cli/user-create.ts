// `npm run user:create -- --email a@b.c --scopes admin,miner:read`: creates an account without
// open registration. The password comes from stdin when it is not a terminal, else a prompt.
// Works against the service's database: DATABASE_URL when set, else the embedded one under
// DATA_DIR (the running one, or started just for this command).
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { checkAccount, createAccounts, type PublicUser } from '../modules/auth/index.ts';
import { withServiceDatabase } from './database.ts';

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
const scopes = (values.scopes ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

// The service's own rules, as the CLI's flags name them.
const FLAGS: Record<string, string> = {
  '/email': '--email',
  '/scopes': '--scopes',
  '/password': 'the password',
};
function refused(err: unknown): never {
  if (!(err instanceof AppError)) throw err;
  const [first] = (err.extensions?.errors as { path: string; message: string }[] | undefined) ?? [];
  fail(first ? `${FLAGS[first.path] ?? first.path}: ${first.message}` : err.message);
}

const email = values.email ?? '';
try {
  // Email and scopes are checked before the password is asked for.
  checkAccount({ email, scopes });
} catch (err) {
  refused(err);
}
const password = await readPassword();
try {
  checkAccount({ email, password, scopes });
} catch (err) {
  refused(err);
}

let created: PublicUser | undefined;
let failure: unknown;
await withServiceDatabase(cfg, 'ferrite-user-create', async (db) => {
  try {
    // The same service as registration: its rules, and one account per email.
    created = await createAccounts({ db, config: cfg }).createUser({ email, password, scopes });
  } catch (err) {
    failure = err;
  }
});
if (failure !== undefined || !created) refused(failure);
process.stdout.write(`${JSON.stringify({ id: created.id, email: created.email, scopes: created.scopes })}\n`);
