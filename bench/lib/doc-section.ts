// The one writer of generated sections in the docs: the bench scripts' tables live in
// docs/performance.md between `<!-- name:start -->` and `<!-- name:end -->`, and only the text
// between the markers is ever rewritten, so the prose around a table stays as a human wrote it.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Where the bench scripts write their tables. */
export const PERFORMANCE_DOC = path.join(ROOT, 'docs/performance.md');

/**
 * `text` with what stands between the name's markers replaced by `body`. Throws, naming the
 * file and the markers, when either marker is missing, out of order or present twice: a section
 * that cannot be found must fail the run, not be appended or written in the wrong place.
 */
export function replaceSection(text: string, name: string, body: string, file = 'the document'): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i || text.indexOf(start, i + 1) >= 0 || text.indexOf(end, j + 1) >= 0) {
    throw new Error(`${file} needs exactly one "${start}" followed by one "${end}"`);
  }
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}

/** Rewrites each named section of `file` (every one or none: one write after all are found). */
export async function writeSections(file: string, sections: Record<string, string>): Promise<void> {
  const shown = file.startsWith(`${ROOT}${path.sep}`) ? path.relative(ROOT, file) : file;
  let text = await readFile(file, 'utf8');
  for (const [name, body] of Object.entries(sections)) text = replaceSection(text, name, body, shown);
  await writeFile(file, text);
}
