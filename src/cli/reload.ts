// `npm run reload`: SIGHUP to a running ferrite: a zero-downtime rolling restart of the cluster's
// workers, or in PROCESS_MODEL=single a fresh read of the TLS certificate.
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
process.stdout.write(
  cfg.PROCESS_MODEL === 'single'
    ? `certificate reload requested from ferrite ${pid} (single process)\n`
    : `rolling restart requested from ferrite primary ${pid}\n`,
);
