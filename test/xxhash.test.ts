import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentHash, strongEtag } from '../src/native/xxhash.ts';

// Content hashes are stored (VFS versions) and sent (ETags): the same bytes must always give
// the same 16 hex digits, whether they arrive as a string or as a Buffer.
describe('contentHash', () => {
  it('is XXH64 of the UTF-8 bytes, as 16 hex digits', () => {
    assert.equal(contentHash(''), 'ef46db3751d8e999');
    assert.equal(contentHash('abc'), '44bc2cf5ad770999');
    assert.equal(strongEtag('abc'), '"44bc2cf5ad770999"');
  });

  it('hashes a string as the Buffer of its UTF-8 bytes', () => {
    for (const s of ['{"status":"ok"}', 'héllo ✓ 😀', '\u0000\uffff', 'x'.repeat(100_000)]) {
      assert.equal(contentHash(s), contentHash(Buffer.from(s, 'utf8')));
    }
  });
});
