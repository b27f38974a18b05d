import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generatedDocs } from '../scripts/docs.ts';
import { configGroups, configSchema } from '../src/config.ts';
import { errorCodes } from '../src/errors.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('generated reference docs', () => {
  for (const [file, render] of Object.entries(generatedDocs)) {
    it(`when ${file} is committed, then it is what \`npm run docs\` writes`, () => {
      const committed = readFileSync(path.join(ROOT, file), 'utf8');
      assert.equal(committed, render(), `${file} is stale: run \`npm run docs\` and commit it`);
    });
  }

  it('declares every config key in exactly one documented group, with a description', () => {
    const grouped = configGroups.flatMap((g) => Object.keys(g.keys));
    assert.equal(new Set(grouped).size, grouped.length, 'a key is declared in two groups');
    assert.deepEqual([...grouped].sort(), Object.keys(configSchema.shape).sort());
    for (const group of configGroups) {
      for (const [key, schema] of Object.entries(group.keys)) {
        assert.ok(schema.description?.trim(), `${key} has no description`);
      }
    }
  });

  it('describes when every error code is answered', () => {
    for (const [code, entry] of Object.entries(errorCodes)) {
      assert.ok(entry.description.trim(), `${code} has no description`);
    }
  });
});
