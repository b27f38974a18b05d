// The record `bench:compare` writes (bench/baselines/compare.json with --readme) and the table of
// docs/performance.md made from it; `bench:compare --readme` and `bench:readme` both render it with
// `compareSection`, so the table is never typed by hand.
import type { LoadResult } from './load.ts';

/** A measured cell: the median of the interleaved runs, and each run's req/s. */
export interface CompareCell {
  median: LoadResult;
  runsRps: number[];
}

export interface CompareRecord {
  /** 2: scenario × peer cells measured with wrk (earlier records were peer × scenario, autocannon). */
  format: 2;
  date: string;
  cores: number;
  cpu?: string;
  node: string;
  load: {
    /** e.g. `wrk -t1 -c64 -d5s --latency` */
    http1: string;
    h2?: string;
    login?: string;
    runs: number;
  };
  /** The `before` peer's own start-up and idle memory (the "Node before" column of docs/performance.md). */
  before: { startupMs?: number; idleRssMb?: number };
  peers: { id: string; label: string }[];
  scenarios: { name: string; label: string; tool: string }[];
  /** scenario → peer id → a measured cell, or why there is none. */
  cells: Record<string, Record<string, CompareCell | string>>;
  notes: string[];
}

export function isCompareRecord(v: unknown): v is CompareRecord {
  return typeof v === 'object' && v !== null && (v as { format?: unknown }).format === 2;
}

const fmtRps = (n: number) => Math.round(n).toLocaleString('en');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : String(Math.round(n))) : '?');

function cellText(c: CompareCell | string | undefined): string {
  if (c === undefined) return '–';
  if (typeof c === 'string') return c;
  return `${fmtRps(c.median.rps)} · p99 ${fmtMs(c.median.latencyMs.p99)} ms`;
}

function ratio(a: CompareCell | string | undefined, b: CompareCell | string | undefined): string {
  if (typeof a !== 'object' || typeof b !== 'object' || b.median.rps === 0) return '–';
  return `${(a.median.rps / b.median.rps).toFixed(2)}×`;
}

/** The markdown docs/performance.md's compare section holds (between compare:start and compare:end). */
export function compareSection(r: CompareRecord): string {
  const peers = r.peers.filter((p) => r.scenarios.some((s) => r.cells[s.name]?.[p.id] !== undefined));
  const head = [
    `Measured ${r.date} on ${r.cores} cores${r.cpu ? ` (${r.cpu})` : ''}, Node ${r.node}, by \`npm run bench:compare\`: HTTP/1.1 with \`${r.load.http1}\`${
      r.load.h2 ? `, h2 with \`${r.load.h2}\` over TLS` : ''
    }${r.load.login ? `, \`login\` with ${r.load.login}` : ''}; ${r.load.runs} interleaved runs per cell (every peer once, then again), medians. Cells: req/s · p99. Load generator on the same cores.`,
    '',
    `| scenario | ${peers.map((p) => p.label).join(' | ')} | ferrite ÷ Go | ferrite ÷ express |`,
    `|---|${peers.map(() => '---').join('|')}|---|---|`,
  ];
  const rows = r.scenarios.map((s) => {
    const row = r.cells[s.name] ?? {};
    return `| ${s.label} | ${peers.map((p) => cellText(row[p.id])).join(' | ')} | ${ratio(row.ferrite, row.go)} | ${ratio(row.ferrite, row.express)} |`;
  });
  const notes = r.notes.map((n) => `- ${n}`);
  return [...head, ...rows, ...(notes.length ? ['', ...notes] : [])].join('\n');
}
