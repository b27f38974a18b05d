// `npm run reload`: zero-downtime rolling restart of a running ferrite (SIGHUP to its primary).
import { parseConfig } from '../config.ts';
import { pidFilePath, readPidFile } from '../pidfile.ts';

const cfg = parseConfig();
const pid = readPidFile(cfg.DATA_DIR);
if (pid === undefined) {
  process.stderr.write(`ferrite does not seem to run: no pid in ${pidFilePath(cfg.DATA_DIR)}\n`);
  process.exit(1);
}
try {
  process.kill(pid, 'SIGHUP');
} catch (err) {
  process.stderr.write(`could not signal ferrite primary ${pid}: ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`rolling restart requested from ferrite primary ${pid}\n`);
