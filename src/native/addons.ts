// Prebuilt Rust addons where this platform has them; elsewhere a maintained fallback, so ferrite
// runs wherever Node 26 runs (issue 16): JWT on node:crypto, argon2id, bcrypt and XXH64 in
// hash-wasm (WebAssembly; password hashes on worker threads). The fallbacks are slower; the first
// worker logs once which ones are in use.
//
// NATIVE_ADDONS (declared with the configuration, src/config/server.ts) is read here from the
// environment: the addons load when their modules are imported, before any configuration is
// parsed. `off` uses every fallback even where an addon loads (how the tests run the fallbacks).

const forced = process.env.NATIVE_ADDONS === 'off';
const fallbacks = new Map<string, string>();

/** `load()`'s addon, or undefined (its fallback `instead` is noted) where it does not load. */
export function addon<T>(name: string, load: () => T, instead: string): T | undefined {
  if (!forced) {
    try {
      return load();
    } catch {
      // no binary for this platform (or libc): the fallback below
    }
  }
  fallbacks.set(name, instead);
  return undefined;
}

/** The addons replaced by fallbacks in this process, by name. */
export function usedFallbacks(): Record<string, string> {
  return Object.fromEntries(fallbacks);
}
