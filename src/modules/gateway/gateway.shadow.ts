import type { NextFunction, Request, Response } from 'express';
import { undici } from '../../http/client.ts';
import { installNow } from '../../http/compression.ts';
import { routeOf } from '../../http/context.ts';
import type { Logger } from '../../log.ts';
import type { WorkerMetrics } from '../../metrics/worker.metrics.ts';
import {
  type Captured,
  capture,
  decode,
  header,
  headerDifferences,
  isJson,
  parse,
} from './gateway.answers.ts';
import { jsonDifferences } from './gateway.diff.ts';
import { upstreamRequestHeaders } from './gateway.headers.ts';

export interface ShadowOptions {
  url: string;
  percent: number;
  /** Path prefixes to sample; empty: every GET. */
  paths: string[];
  ignoreFields: ReadonlySet<string>;
  /** Lower-case header names not compared. */
  ignoreHeaders: ReadonlySet<string>;
  maxConcurrency: number;
  timeoutMs: number;
  maxBodyBytes: number;
  logDiffs: number;
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  type: string;
  encoding: string;
  /** undefined: larger than maxBodyBytes, not compared. */
  body: Buffer | undefined;
}

/**
 * Shadow traffic for migrations: a sample of GET requests is also sent to SHADOW_UPSTREAM_URL,
 * and its answer is compared with the response the client got (status, and JSON bodies with
 * key order and the ignored fields disregarded). The client's response never waits for the
 * shadow and is never changed by it; comparisons run after it finished. At most
 * `maxConcurrency` shadow requests run per worker; a sampled request beyond that is dropped
 * (counted), never queued.
 */
export function createShadow(opts: ShadowOptions, deps: { log: Logger; metrics: WorkerMetrics }) {
  const u = new URL(opts.url);
  const base = u.pathname.replace(/\/+$/, '');
  const pool = new (undici().Pool)(u.origin, {
    connections: opts.maxConcurrency,
    connectTimeout: opts.timeoutMs,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  let inFlight = 0;
  let logged = 0;

  const sampled = (req: Request) => {
    if (req.method !== 'GET' || !(Math.random() * 100 < opts.percent)) return false;
    if (opts.paths.length === 0) return true;
    const path = req.path;
    return opts.paths.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
  };

  async function ask(req: Request, signal: AbortSignal): Promise<Answer> {
    const res = await pool.request({
      method: 'GET',
      path: base + req.originalUrl,
      // The shadow authenticates like ferrite does, so it gets the client's credentials.
      headers: upstreamRequestHeaders(req, { forwardAuthorization: true, shadow: true }),
      signal,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > opts.maxBodyBytes) {
        res.body.destroy();
        return { status: res.statusCode, headers: res.headers, type: '', encoding: '', body: undefined };
      }
      chunks.push(chunk as Buffer);
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      type: header(res.headers['content-type']),
      encoding: header(res.headers['content-encoding']),
      body: Buffer.concat(chunks),
    };
  }

  /** The places where the two answers differ; undefined when they cannot be compared. */
  async function differences(res: Response, mine: Captured, theirs: Answer): Promise<string[] | undefined> {
    if (res.statusCode !== theirs.status) return [`status ${res.statusCode} vs ${theirs.status}`];
    const headers = headerDifferences(res.getHeaders(), theirs.headers, opts.ignoreHeaders);
    const type = header(res.getHeader('content-type'));
    if (!isJson(type) && !isJson(theirs.type)) return headers;
    if (isJson(type) !== isJson(theirs.type)) return headers;
    if (mine.overflow || theirs.body === undefined) return headers.length > 0 ? headers : undefined;
    const [a, b] = await Promise.all([
      decode(Buffer.concat(mine.chunks), mine.encoding ?? '', opts.maxBodyBytes).then(parse),
      decode(theirs.body, theirs.encoding, opts.maxBodyBytes).then(parse),
    ]);
    if (!a.ok || !b.ok) return a.ok === b.ok ? headers : [...headers, 'body: only one is valid JSON'];
    return [...headers, ...jsonDifferences(a.value, b.value, opts.ignoreFields)];
  }

  async function compare(req: Request, res: Response, mine: Captured, answer: Promise<Answer>) {
    const route = routeOf(req, res);
    let theirs: Answer;
    try {
      theirs = await answer;
    } catch {
      deps.metrics.shadowResult(route, 'failed');
      return;
    }
    let found: string[] | undefined;
    try {
      found = await differences(res, mine, theirs);
    } catch {
      found = undefined;
    }
    if (found === undefined) {
      deps.metrics.shadowResult(route, 'skipped');
      return;
    }
    deps.metrics.shadowResult(route, found.length === 0 ? 'match' : 'diff');
    if (found.length > 0 && logged < opts.logDiffs) {
      logged++;
      deps.log.warn(
        { requestId: req.id, route, status: res.statusCode, shadowStatus: theirs.status, differences: found },
        'shadow response differs',
      );
    }
  }

  function middleware(req: Request, res: Response, next: NextFunction): void {
    if (!sampled(req)) {
      next();
      return;
    }
    if (inFlight >= opts.maxConcurrency) {
      res.once('close', () => deps.metrics.shadowResult(routeOf(req, res), 'dropped'));
      next();
      return;
    }
    inFlight++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
    const answer = ask(req, controller.signal);
    answer.catch(() => undefined);
    // Compression first, so that the capture wraps it and sees what handlers write.
    installNow(res);
    const mine = capture(res, opts.maxBodyBytes);
    res.once('close', () => {
      let settled: Promise<unknown>;
      if (res.writableFinished) settled = compare(req, res, mine, answer);
      else {
        // The client's response was cut short: there is nothing to compare with.
        controller.abort();
        deps.metrics.shadowResult(routeOf(req, res), 'skipped');
        settled = answer;
      }
      settled
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer);
          inFlight--;
        });
    });
    next();
  }

  return { middleware, close: () => pool.close() };
}
