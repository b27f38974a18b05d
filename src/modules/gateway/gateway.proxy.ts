import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import type { Dispatcher } from 'undici';
import { AppError } from '../../errors.ts';
import { leaveUncompressed } from '../../http/compression.ts';
import type { WorkerMetrics } from '../../metrics/worker.metrics.ts';
import { inSpan, traceparentOf, tracingOn } from '../../tracing/index.ts';
import type { Permit } from './gateway.breaker.ts';
import { copyResponseHeaders, hasBody } from './gateway.headers.ts';
import { backoffMs, retryableStatus } from './gateway.retry.ts';
import type { Upstream } from './gateway.upstream.ts';

export interface RetryPolicy {
  retries: number;
  methods: ReadonlySet<string>;
  backoffMs: number;
  backoffMaxMs: number;
}

type Failure = 'timeout' | 'unavailable' | 'aborted';
type Outcome = 'success' | 'upstream_error' | Failure;

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function classify(err: unknown, signal: AbortSignal): Failure {
  if (signal.aborted) return 'aborted';
  return TIMEOUT_CODES.has((err as { code?: string })?.code ?? '') ? 'timeout' : 'unavailable';
}

function failureError(kind: 'timeout' | 'unavailable', up: Upstream, cause: unknown): AppError {
  // The cause (addresses, error codes) goes to the log, not to the client.
  return kind === 'timeout'
    ? new AppError('UPSTREAM_TIMEOUT', {
        detail: `The ${up.name} upstream did not answer in time.`,
        extensions: { upstream: up.name },
        cause,
      })
    : new AppError('UPSTREAM_UNAVAILABLE', {
        detail: `The ${up.name} upstream could not be reached.`,
        extensions: { upstream: up.name },
        cause,
      });
}

function circuitOpen(up: Upstream): AppError {
  const seconds = up.breaker.retryAfterSeconds();
  return new AppError('UPSTREAM_CIRCUIT_OPEN', {
    detail: `The ${up.name} upstream is failing; requests to it are paused for ${seconds} s.`,
    headers: { 'Retry-After': String(seconds) },
    extensions: { upstream: up.name },
  });
}

/**
 * Streams the upstream's body to the client with backpressure. Behind the compression
 * middleware, whatever the compressor holds is flushed once the upstream has nothing more
 * ready, so a slow stream is never stuck in its buffer.
 */
function relay(body: Readable, res: Response, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    // Set by the compression middleware (typed as always there; absent without it).
    const flushable = res as unknown as { flush?: () => void };
    let flushQueued = false;
    const flush = () => {
      flushQueued = false;
      if (!res.writableEnded) flushable.flush?.();
    };
    const resume = () => body.resume();
    body.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        body.pause();
        res.once('drain', resume);
      }
      if (flushable.flush && !flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    });
    body.once('end', () => {
      res.end();
      resolve('success');
    });
    body.once('error', (err) => {
      // Part of the response is out; cutting it short is the only honest signal left.
      res.destroy();
      resolve(classify(err, signal));
    });
  });
}

/**
 * The request body for undici. An iterator, not the request itself: undici destroys a body
 * stream it gives up on, which for the client's request would also drop the client's
 * connection. With a content-length, the chunk that completes the body waits for the request's
 * end, because an upstream takes its last byte as a complete request while an HTTP/2 upload is
 * only known not to be cancelled at its end (express-h2.ts); without one, undici ends the chunked
 * body (or sends `content-length: 0`) only at that end.
 */
async function* requestBody(req: Request): AsyncGenerator<Buffer> {
  const header = req.headers['content-length'];
  const length = header === undefined ? Number.POSITIVE_INFINITY : Number(header);
  let seen = 0;
  let last: Buffer | undefined;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen < length) yield chunk;
    else last = last ? Buffer.concat([last, chunk]) : chunk;
  }
  if (last) yield last;
}

/**
 * The upstream call in a client span (its headers: the span's `traceparent`), ended when the
 * answer's headers are in; with tracing on only.
 */
function tracedDispatch(
  up: Upstream,
  method: string,
  target: { path: string; headers: string[] },
  dispatch: (headers: string[]) => Promise<Dispatcher.ResponseData>,
): Promise<Dispatcher.ResponseData> {
  return inSpan(
    method,
    'client',
    {
      'http.request.method': method,
      'server.address': up.url.hostname,
      'server.port': Number(up.url.port || (up.url.protocol === 'https:' ? 443 : 80)),
      'url.full': `${up.url.origin}${target.path.split('?')[0]}`,
      'ferrite.upstream': up.name,
    },
    async (span) => {
      const headers = [...target.headers];
      const at = headers.indexOf('traceparent');
      if (span && at >= 0 && at % 2 === 0) headers[at + 1] = traceparentOf(span);
      const response = await dispatch(headers);
      span?.setAttribute('http.response.status_code', response.statusCode);
      return response;
    },
  );
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/**
 * Forwards one request to `up` and streams the answer back. Idempotent, bodiless requests are
 * retried on connection failures, timeouts and 502/503 answers, at most `policy.retries` times,
 * only before anything was written to the client and only while the retry budget and the
 * breaker allow. Failures before a response become 502/504/503 problems (thrown); a client
 * that goes away aborts the upstream request.
 */
export async function proxy(
  req: Request,
  res: Response,
  up: Upstream,
  /**
   * `faithful`: relay the answer exactly (the legacy passthrough); else as ferrite's own.
   * `body`: the request body already read (and checked against the contract), sent instead of
   * the request's stream.
   */
  target: { path: string; headers: string[]; faithful?: boolean; body?: Buffer },
  policy: RetryPolicy,
  metrics: WorkerMetrics,
): Promise<void> {
  const controller = new AbortController();
  const { signal } = controller;
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  // A request that breaks off (reset, timed out) aborts the upstream's copy, which must never
  // look complete to the upstream.
  const onRequestError = () => controller.abort();
  req.once('error', onRequestError);
  // Broke off while earlier middleware ran: nothing to forward, and no upstream failure either.
  if (req.errored) {
    res.off('close', onClose);
    req.off('error', onRequestError);
    return;
  }
  const method = req.method;
  const bodyful = hasBody(req);
  const mayRetry = !bodyful && policy.methods.has(method);
  const observe = (status: string, outcome: Outcome, started: number) =>
    metrics.observeUpstream(
      { upstream: up.name, method, status_class: status, outcome },
      (performance.now() - started) / 1000,
    );
  // A retry is worth it only while the breaker still lets requests through and budget is left.
  const retryAllowed = (attempt: number) =>
    mayRetry && attempt < policy.retries && up.breaker.state === 'closed' && up.budget.tryRetry();
  up.budget.request();
  let lastError: AppError | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0)
        await sleep(backoffMs(attempt - 1, policy.backoffMs, policy.backoffMaxMs), undefined, { signal });
      const permit: Permit | undefined = up.breaker.allow();
      if (!permit) {
        if (lastError) throw lastError;
        metrics.observeUpstream(
          { upstream: up.name, method, status_class: 'none', outcome: 'circuit_open' },
          -1,
        );
        throw circuitOpen(up);
      }
      const started = performance.now();
      let response: Dispatcher.ResponseData;
      const dispatch = (headers: string[]) =>
        up.pool.request({
          method: method as Dispatcher.HttpMethod,
          path: target.path,
          headers,
          body: target.body ?? (bodyful ? (requestBody(req) as unknown as Readable) : undefined),
          signal,
        });
      try {
        response = tracingOn()
          ? await tracedDispatch(up, method, target, dispatch)
          : await dispatch(target.headers);
      } catch (err) {
        const failure = classify(err, signal);
        observe('none', failure, started);
        up.breaker.record(permit, failure === 'aborted' ? 'none' : 'failure');
        if (failure === 'aborted') return;
        lastError = failureError(failure, up, err);
        if (!retryAllowed(attempt)) throw lastError;
        metrics.upstreamRetry(up.name, failure);
        continue;
      }

      const status = response.statusCode;
      if (retryableStatus(status) && mayRetry && attempt < policy.retries) {
        up.breaker.record(permit, 'failure');
        if (retryAllowed(attempt)) {
          observe(statusClass(status), 'upstream_error', started);
          // Read and dropped so the connection goes back to the pool.
          response.body.dump().catch(() => undefined);
          lastError = new AppError('UPSTREAM_UNAVAILABLE', {
            detail: `The ${up.name} upstream answered ${status}.`,
            extensions: { upstream: up.name },
          });
          metrics.upstreamRetry(up.name, `status_${status}`);
          continue;
        }
        const outcome = await send(res, response, signal, target.faithful === true);
        observe(statusClass(status), outcome === 'success' ? 'upstream_error' : outcome, started);
        return;
      }
      const outcome = await send(res, response, signal, target.faithful === true);
      observe(
        statusClass(status),
        outcome === 'success' && status >= 500 ? 'upstream_error' : outcome,
        started,
      );
      up.breaker.record(
        permit,
        outcome === 'aborted' ? 'none' : outcome === 'success' && status < 500 ? 'success' : 'failure',
      );
      return;
    }
  } catch (err) {
    // A client that left during a backoff wait: nothing to answer.
    if (signal.aborted && !(err instanceof AppError)) return;
    throw err;
  } finally {
    res.off('close', onClose);
    req.off('error', onRequestError);
  }
}

function send(
  res: Response,
  response: Dispatcher.ResponseData,
  signal: AbortSignal,
  faithful: boolean,
): Promise<Outcome> {
  res.statusCode = response.statusCode;
  // ferrite's CORS headers (CORS_ORIGINS) stay on an answer that brings none of its own.
  const ownCors = faithful && response.headers['access-control-allow-origin'] === undefined;
  if (faithful) {
    // The upstream's answer as it sent it: none of ferrite's own headers (security headers for
    // its JSON, no-store for credentialed requests) but the request id, and no compression.
    for (const name of res.getHeaderNames()) {
      if (name !== 'x-request-id' && !(ownCors && name.startsWith('access-control-'))) res.removeHeader(name);
    }
    leaveUncompressed(res);
  }
  copyResponseHeaders(response.headers, res);
  if (ownCors && res.hasHeader('access-control-allow-origin')) res.vary('Origin');
  return relay(response.body, res, signal);
}
