import type { Piscina } from 'piscina';
import type { WasmTask } from './hash-wasm.worker.ts';

// The hash-wasm fallback's threads (native/addons.ts): made on the first hash, so a process on
// the Rust addons never loads piscina or hash-wasm for this. Two threads at most: argon2's own
// queue (native/argon2.ts) bounds how many hashes run at once.
let pool: Promise<Piscina<WasmTask, string | boolean>> | undefined;

export function onThread<T extends string | boolean>(task: WasmTask): Promise<T> {
  pool ??= import('piscina').then(
    ({ Piscina }) =>
      new Piscina<WasmTask, string | boolean>({
        filename: new URL('./hash-wasm.worker.ts', import.meta.url).href,
        minThreads: 0,
        maxThreads: 2,
        idleTimeout: 30_000,
      }),
  );
  return pool.then((p) => p.run(task) as Promise<T>);
}
