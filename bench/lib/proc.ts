import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpuPercent } from './stats.ts';

const PAGE = 4096;

/** The primary and its worker processes (by their titles), read from the process table. */
export function clusterPids(primary: number): { role: string; pid: number }[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' });
  } catch {
    // no children
  }
  const workers = out
    .split('\n')
    .filter((l) => l.includes('ferrite-worker'))
    .map((l) => ({ role: l.trim().split(/\s+/)[1] ?? 'worker', pid: Number.parseInt(l.trim(), 10) }));
  return [{ role: 'primary', pid: primary }, ...workers];
}

function ticks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/**
 * Proportional set size: private pages plus each shared page divided among the processes that
 * map it. node's own binary (~50 MB resident) is shared by a primary and its workers; RSS counts
 * it once per process, PSS once in all, so the sum of PSS is what the cluster costs the host.
 */
export function pssBytes(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

export function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
}

export interface ProcSample {
  role: string;
  pid: number;
  cpuPercent: number;
  rssMaxBytes: number;
}

/** Samples CPU and RSS of each process while `during` runs. */
export async function sampleWhile<T>(pids: { role: string; pid: number }[], during: () => Promise<T>) {
  const start = new Map(pids.map((p) => [p.pid, ticks(p.pid)]));
  const rss = new Map(pids.map((p) => [p.pid, rssBytes(p.pid)]));
  const began = performance.now();
  const timer = setInterval(() => {
    for (const p of pids) {
      try {
        rss.set(p.pid, Math.max(rss.get(p.pid) ?? 0, rssBytes(p.pid)));
      } catch {
        // the process went away
      }
    }
  }, 250);
  try {
    const result = await during();
    const seconds = (performance.now() - began) / 1000;
    const samples: ProcSample[] = pids.map((p) => ({
      role: p.role,
      pid: p.pid,
      cpuPercent: Math.round(cpuPercent(start.get(p.pid) ?? 0, ticks(p.pid), seconds) * 100) / 100,
      rssMaxBytes: rss.get(p.pid) ?? 0,
    }));
    return { result, samples };
  } finally {
    clearInterval(timer);
  }
}
