import { readFileSync } from 'node:fs';
import { summarise } from '../../lib/cpuprofile.ts';

// usage: node profile-per-request.ts FILE.cpuprofile REQUESTS — a V8 CPU profile as µs per request.
const [file, reqs] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file!, 'utf8'));
const total = p.timeDeltas.reduce((a: number, b: number) => a + b, 0);
const s = summarise(p, new URL('../../..', import.meta.url).pathname, Number(process.env.TOP ?? 25));
const busyUs = total * (1 - s.idlePercent / 100);
console.log(`busy ${(busyUs / Number(reqs)).toFixed(1)} µs/req, idle ${s.idlePercent.toFixed(0)}%`);
for (const f of s.functions) console.log(`${((f.percent / 100) * busyUs / Number(reqs)).toFixed(2).padStart(7)} µs  ${f.name}`);
console.log('--- owners');
for (const f of s.owners) console.log(`${((f.percent / 100) * busyUs / Number(reqs)).toFixed(2).padStart(7)} µs  ${f.name}`);
