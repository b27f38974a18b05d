// What a 4xx AppError costs to construct 30 frames deep (express's middleware chain is about
// that deep), with its stack trace and without: `node bench/decisions/hot-path/stack-trace.ts`.
// A/B: run it at 56c2eed^ (stack captured) and at 56c2eed or later (no stack for 4xx).
import { AppError } from '../../../src/errors.ts';

const deep = (n: number, f: () => unknown): unknown => (n === 0 ? f() : deep(n - 1, f));
function nsPer(make: () => unknown): number {
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) deep(30, make);
  return Number(process.hrtime.bigint() - t0) / n;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const appError: number[] = [];
const plainError: number[] = [];
for (let k = 0; k < 5; k++) {
  appError.push(nsPer(() => new AppError('UNAUTHORIZED', { detail: 'x' })));
  plainError.push(nsPer(() => new Error('x')));
}
console.log(`AppError 401: ${median(appError).toFixed(0)} ns; plain Error: ${median(plainError).toFixed(0)} ns`);
