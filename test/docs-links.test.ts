import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { glob } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a markdown file offers (repeated headings get -1, -2, … as on GitHub). */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutCode(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The lines outside fenced code blocks (a link inside one is an example, not a link). */
function withoutCode(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** Every relative link of the file whose target file or heading does not exist. */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const broken: string[] = [];
  for (const line of withoutCode(text)) {
    // Code spans go first: `[a](b)` in one is an example; a span inside a link's text is kept out.
    for (const m of line.replace(/`[^`]*`/g, '``').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [where = '', anchor] = target.split('#');
      const resolved = where ? path.resolve(path.dirname(file), decodeURI(where)) : file;
      if (!existsSync(resolved)) {
        broken.push(`${target}: no such file`);
      } else if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${target}: no such heading`);
      }
    }
  }
  return broken;
}

describe('links in the README and docs/', () => {
  it('every relative link points at a file, and a #heading that exists', async () => {
    const files = [path.join(ROOT, 'README.md')];
    for await (const f of glob('docs/**/*.md', { cwd: ROOT })) files.push(path.join(ROOT, f));
    assert.ok(files.length > 5, `only ${files.length} markdown files found`);
    const broken = files.flatMap((f) => brokenLinks(f).map((b) => `${path.relative(ROOT, f)}: ${b}`));
    assert.deepEqual(broken, []);
  });

  it('reports a missing file and a missing heading, not links in code', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'docs-links-'));
    writeFileSync(path.join(dir, 'other.md'), '# The `other` page: notes\n\n## Twice\n\n## Twice\n');
    const file = path.join(dir, 'index.md');
    writeFileSync(
      file,
      [
        '[ok](other.md#the-other-page-notes) [ok](other.md#twice-1) [ok](#here) [web](https://x.invalid/y)',
        '# Here',
        '[gone](missing.md) [no heading](other.md#nowhere)',
        '`[code](missing-in-span.md)`',
        '```',
        '[fenced](missing-in-fence.md)',
        '```',
      ].join('\n'),
    );
    assert.deepEqual(brokenLinks(file), ['missing.md: no such file', 'other.md#nowhere: no such heading']);
  });
});
