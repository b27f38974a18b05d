import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { replaceSection, writeSections } from '../bench/lib/doc-section.ts';

const doc =
  'intro\n<!-- a:start -->\nold a\n<!-- a:end -->\nmiddle\n<!-- b:start -->\nold b\n<!-- b:end -->\nend\n';

describe('the bench scripts’ section writer', () => {
  it('replaces only what stands between the named markers', () => {
    assert.equal(
      replaceSection(doc, 'b', 'new b'),
      'intro\n<!-- a:start -->\nold a\n<!-- a:end -->\nmiddle\n<!-- b:start -->\nnew b\n<!-- b:end -->\nend\n',
    );
  });

  it('refuses a missing, reversed or repeated marker, naming the file and the markers', () => {
    for (const text of [
      doc.replace('<!-- b:end -->', ''),
      doc.replace('<!-- b:start -->', ''),
      'x\n<!-- b:end -->\n<!-- b:start -->\n',
      `${doc}<!-- b:start -->\n`,
    ]) {
      assert.throws(() => replaceSection(text, 'b', 'new', 'docs/x.md'), {
        message: 'docs/x.md needs exactly one "<!-- b:start -->" followed by one "<!-- b:end -->"',
      });
    }
  });

  it('writes every section or none', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'doc-section-')), 'performance.md');
    writeFileSync(file, doc);
    await writeSections(file, { a: 'new a', b: 'new b' });
    assert.equal(readFileSync(file, 'utf8'), replaceSection(replaceSection(doc, 'a', 'new a'), 'b', 'new b'));
    const before = readFileSync(file, 'utf8');
    await assert.rejects(
      writeSections(file, { a: 'newer a', c: 'c' }),
      /needs exactly one "<!-- c:start -->"/,
    );
    assert.equal(readFileSync(file, 'utf8'), before);
  });
});
