import type { Request, Response } from 'express';
import { traceparent } from '../../http/context.ts';

// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded. `proxy-*` is matched
// by prefix below; http2-settings belongs to the h2c upgrade.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

// Set here from what ferrite knows; a client's own values would be spoofing (identity) or
// stale (ids, forwarding). `expect` is answered by ferrite's own server.
const REPLACED = new Set([
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-prefix',
  'x-request-id',
  'traceparent',
  'x-user-id',
  'x-user-scopes',
]);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-');
}

/** The header names a `Connection` header lists, which are hop-by-hop too (lower case). */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const name = t.trim().toLowerCase();
      if (name) tokens.add(name);
    }
  }
  return tokens;
}

export interface ForwardingOptions {
  /** Forward the client's Authorization header (else the upstream only sees identity headers). */
  forwardAuthorization: boolean;
  /** The route prefix the upstream does not see, so it can build links the client can follow. */
  prefix?: string;
  /** Marks a mirrored request so the shadow can tell it from real traffic. */
  shadow?: boolean;
}

function rawConnectionTokens(raw: string[]): Set<string> {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') values.push(raw[i + 1] as string);
  }
  return connectionTokens(values);
}

/**
 * The headers sent upstream, as undici's flat [name, value, …] list: the client's end-to-end
 * headers in their order (HTTP/2 pseudo-headers and hop-by-hop headers dropped, cookie crumbs
 * joined as RFC 9113 §8.2.3 asks), then X-Forwarded-*, the request id, the trace context and
 * the caller's identity.
 */
export function upstreamRequestHeaders(req: Request, opts: ForwardingOptions): string[] {
  const raw = req.rawHeaders;
  const dropped = rawConnectionTokens(raw);
  const peer = req.socket.remoteAddress ?? '';
  const trusted = (req.app.get('trust proxy fn') as (addr: string, i: number) => boolean)(peer, 0);
  const out: string[] = [];
  const cookies: string[] = [];
  let priorFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name) || dropped.has(name)) continue;
    if (REPLACED.has(name)) {
      if (name === 'x-forwarded-for' && trusted) priorFor = priorFor ? `${priorFor}, ${value}` : value;
      continue;
    }
    if (name === 'cookie') cookies.push(value);
    else if (name === 'forwarded' && !trusted) continue;
    else if (name === 'authorization' && !opts.forwardAuthorization) continue;
    else out.push(name, value);
  }
  if (cookies.length > 0) out.push('cookie', cookies.join('; '));
  out.push(
    'x-forwarded-for',
    priorFor ? `${priorFor}, ${peer}` : peer,
    // express reads these honouring `trust proxy`.
    'x-forwarded-proto',
    req.protocol,
    'x-request-id',
    req.id,
    'traceparent',
    traceparent(req.trace),
  );
  const host = req.host;
  if (host) out.push('x-forwarded-host', host);
  if (opts.prefix) out.push('x-forwarded-prefix', opts.prefix);
  if (req.user) out.push('x-user-id', req.user.id, 'x-user-scopes', req.user.scopes.join(' '));
  if (opts.shadow) out.push('x-shadow-request', '1');
  return out;
}

/**
 * Copies an upstream response's end-to-end headers onto the client's response. The request id
 * stays ferrite's (the upstream got the same one); a value Node refuses is left out rather
 * than failing the response.
 */
export function copyResponseHeaders(headers: Record<string, string | string[] | undefined>, res: Response) {
  const dropped = connectionTokens(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || isHopByHop(name) || dropped.has(name) || name === 'x-request-id') continue;
    try {
      res.setHeader(name, value);
    } catch {
      // an invalid character from the upstream; the rest of the response is still good
    }
  }
}

/**
 * `headers` for a body read (and decoded) here and sent whole: its own length, and neither the
 * client's length nor its content coding, which described the bytes as they came.
 */
export function withReadBody(headers: string[], body: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name === 'content-length' || name === 'content-encoding') continue;
    out.push(name, headers[i + 1] as string);
  }
  out.push('content-length', String(body.length));
  return out;
}

/** Whether the request carries a body (HTTP/2 bodies without content-length included). */
export function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
