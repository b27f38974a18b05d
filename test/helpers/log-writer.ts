// A child process for test/log.test.ts: logs LINES numbered lines through ferrite's logger (its
// LineBatch on stdout) and exits at once with process.exit, as a worker does after draining.
// MAX_PENDING sets the batch's cap; NONBLOCKING=1 makes stdout a non-blocking pipe first (what
// touching process.stdout does), so a full pipe answers EAGAIN.
import { pino } from 'pino';
import { LineBatch } from '../../src/log.ts';

if (process.env.NONBLOCKING === '1') void process.stdout;
const log = pino({ base: undefined }, new LineBatch(1, Number(process.env.MAX_PENDING ?? 16 * 1024 * 1024)));
const lines = Number(process.env.LINES ?? 1000);
const pad = 'x'.repeat(Number(process.env.PAD ?? 100));
// Logged over several turns of the event loop, as requests would be.
for (let i = 0; i < lines; i += 100) {
  for (let j = i; j < Math.min(lines, i + 100); j++) log.info({ n: j, pad }, 'line');
  await new Promise((resolve) => setImmediate(resolve));
}
process.exit(0);
