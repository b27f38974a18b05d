import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let loaded: typeof import('undici') | undefined;

/**
 * undici, the outgoing HTTP client (gateway upstreams, shadow traffic, the node's JSON-RPC),
 * loaded when the first pool is made: a deployment that proxies nothing never loads it (~20 MB
 * of a worker's memory, issue 14). Synchronous, so a constructor can ask for it.
 */
export function undici(): typeof import('undici') {
  loaded ??= require('undici') as typeof import('undici');
  return loaded;
}
