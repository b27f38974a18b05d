// A node:test reporter that counts, per test file, the tests that ran (passed or failed), were
// skipped, and failed; test/run.ts reads its one JSON line when the run ends.
import path from 'node:path';

export interface FileCount {
  ran: number;
  skipped: number;
  failed: number;
}

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  skip?: boolean | string;
  todo?: boolean | string;
  details?: { type?: 'test' | 'suite' };
}

/** The runner's stand-in for a file that reported no tests of its own (named after the file). */
function isFileItself(data: TestEventData): boolean {
  if (data.nesting !== 0 || !data.file) return false;
  return path.resolve(data.name) === data.file || path.basename(data.file) === data.name;
}

export default async function* countReporter(
  source: AsyncIterable<{ type: string; data: TestEventData }>,
): AsyncGenerator<string> {
  const files: Record<string, FileCount> = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (!data.file || data.details?.type === 'suite') continue;
    const file = path.relative(process.cwd(), data.file);
    files[file] ??= { ran: 0, skipped: 0, failed: 0 };
    const count = files[file];
    if (isFileItself(data)) {
      if (event.type === 'test:fail') count.failed++;
      continue;
    }
    if (data.skip || data.todo) count.skipped++;
    else count.ran++;
    if (event.type === 'test:fail') count.failed++;
  }
  yield `${JSON.stringify({ files })}\n`;
}
