// Entry point. V8's compile cache cuts start-up by about a quarter here (modules compile once per
// install, not once per process) and spares node's TypeScript stripper (amaro, ~15 MB resident for
// the life of the process) in every process that finds its modules in the cache; it must be on
// before the rest is imported, and the environment variable carries it to every forked process.
// This file is JavaScript for the same reason: node compiles the entry before the cache is on.
import module from 'node:module';

if (!process.env.NODE_COMPILE_CACHE) {
  const dir = module.enableCompileCache?.()?.directory;
  if (dir) process.env.NODE_COMPILE_CACHE = dir;
}
await import('./start.ts');
