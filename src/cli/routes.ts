// `npm run routes -- status | promote ROUTE | rollback ROUTE | reset ROUTE` (issue 15): the
// cut-over routes of ROUTES_FILE and who serves them. promote: ferrite serves the route whatever
// the file says; rollback: the legacy service does; reset: the file's rule again (a canary is
// judged afresh). Every worker on every host follows within a moment (Postgres NOTIFY). Against
// the service's database (DATABASE_URL, else the embedded one under DATA_DIR).
import { userInfo } from 'node:os';
import { ConfigError, parseConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { createCutoverControl, RoutesFileError } from '../modules/cutover/index.ts';
import { withServiceDatabase } from './database.ts';

function fail(message: string): never {
  process.stderr.write(`routes: ${message}\n`);
  process.exit(1);
}

const [command = 'status', route, ...extra] = process.argv.slice(2);
if (!['status', 'promote', 'rollback', 'reset'].includes(command) || extra.length > 0) {
  fail('usage: npm run routes -- status | promote ROUTE | rollback ROUTE | reset ROUTE');
}
if (command !== 'status' && !route) fail(`${command} needs a ROUTE (its name, or its match text)`);
let cfg: ReturnType<typeof parseConfig>;
try {
  cfg = parseConfig();
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}
const by = `operator ${userInfo().username} (npm run routes)`;

try {
  const out = await withServiceDatabase(cfg, 'ferrite-routes', async (db) => {
    const control = createCutoverControl({ db, config: cfg });
    if (command === 'promote') await control.promote(route as string, by);
    else if (command === 'rollback') await control.rollback(route as string, by);
    else if (command === 'reset') await control.reset(route as string);
    return control.status();
  });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} catch (err) {
  if (err instanceof AppError || err instanceof RoutesFileError) fail(err.message);
  throw err;
}
