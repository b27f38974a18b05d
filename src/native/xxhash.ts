import { xxh3 } from '@node-rs/xxhash';

/**
 * A 64-bit XXH3 content hash as 16 hex digits. Not cryptographic: it names content (ETags,
 * file versions) where collisions only cost a cache miss, at a fraction of SHA-1's cost.
 */
export function contentHash(data: string | Uint8Array): string {
  const input = typeof data === 'string' ? Buffer.from(data) : data;
  return xxh3.xxh64(input).toString(16).padStart(16, '0');
}

/** A strong HTTP entity tag for `data`, in express's `etag fn` shape. */
export function strongEtag(data: string | Uint8Array): string {
  return `"${contentHash(data)}"`;
}
