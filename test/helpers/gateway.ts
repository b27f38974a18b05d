import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { parseConfig } from '../../src/config.ts';
import { AccessTokens } from '../../src/modules/auth/auth.tokens.ts';

/** The signing secret the gateway clusters are started with, so tests can mint any scopes. */
export const JWT_SECRET = 'gateway-tests-7Qm2Vx9Lp4Rz8Kw1Hd6Ty3Nb5';

const issuer = new AccessTokens(parseConfig({ JWT_SECRET }));

export interface Minted {
  token: string;
  userId: string;
}

export async function mint(...scopes: string[]): Promise<Minted> {
  const userId = randomUUID();
  return { token: await issuer.issue({ id: userId, scopes }), userId };
}

/** Sums every series of `name` whose labels include `labels` (all workers together). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const got = new Map<string, string>();
    if (open > 0 && open < close) {
      for (const m of line.slice(open + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
        got.set(m[1] as string, m[2] as string);
      }
    }
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

export async function scrape(metricsUrl: string): Promise<string> {
  const res = await fetch(metricsUrl);
  return res.text();
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request with node:http, which (unlike undici and fetch) sends hop-by-hop headers and
 * dot segments as given.
 */
export function rawRequest(
  url: string,
  init: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | Readable } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: url.slice(u.origin.length),
        method: init.method ?? 'GET',
        headers: init.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (init.body instanceof Readable) init.body.pipe(req);
    else req.end(init.body);
  });
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

/** Samples the RSS of `pids` every 20 ms until stopped; returns the largest growth seen. */
export function watchRss(pids: number[]): { stop(): number } {
  const base = new Map(pids.map((p) => [p, rssBytes(p)]));
  let peak = 0;
  const sample = () => {
    for (const [pid, start] of base) {
      try {
        peak = Math.max(peak, rssBytes(pid) - start);
      } catch {
        // the worker exited; the test will notice elsewhere
      }
    }
  };
  const timer = setInterval(sample, 20);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
