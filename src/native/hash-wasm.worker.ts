// A worker thread of the hash-wasm fallback (native/wasm-pool.ts): password hashing in
// WebAssembly, off the event loop, where no prebuilt Rust addon exists for the platform.
import { argon2id, argon2Verify, bcryptVerify } from 'hash-wasm';

export type WasmTask =
  | {
      op: 'argon2id';
      password: string;
      salt: Uint8Array;
      memorySize: number;
      iterations: number;
      parallelism: number;
    }
  | { op: 'argon2Verify'; password: string; hash: string }
  | { op: 'bcryptVerify'; password: string; hash: string };

export default function run(task: WasmTask): Promise<string | boolean> {
  switch (task.op) {
    case 'argon2id':
      return argon2id({ ...task, hashLength: 32, outputType: 'encoded' });
    case 'argon2Verify':
      return argon2Verify({ password: task.password, hash: task.hash });
    case 'bcryptVerify':
      return bcryptVerify({ password: task.password, hash: task.hash });
  }
}
