// WebSocket (any HTTP/1.1 upgrade) on a legacy route: the handshake is forwarded to the legacy
// service and, once it switches protocols, the two sockets are joined both ways. What the
// legacy answers instead of 101 (a 401, a 404) reaches the client as it sent it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request } from 'express';
import { http, https } from '../../builtins.ts';
import type { Logger } from '../../log.ts';
import { upstreamRequestHeaders } from './gateway.headers.ts';
import { canonicalPath, pathOf } from './gateway.paths.ts';

export interface TunnelOptions {
  /** The legacy service's origin and base path. */
  url: string;
  connectTimeoutMs: number;
  /** From sending the handshake to the legacy's answer. */
  headersTimeoutMs: number;
  /** A tunnel with no bytes either way for this long is closed. */
  idleTimeoutMs: number;
  /** Tunnels open at once in this worker; more are refused with 503. */
  max: number;
  log: Logger;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** ferrite's own refusal of an upgrade: a short problem document, then the socket closes. */
function refuse(socket: Duplex, status: number, detail: string, requestId: string): void {
  const body = JSON.stringify({ type: 'about:blank', title: REASONS[status], status, detail, requestId });
  const retry = status === 503 ? 'Retry-After: 5\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/problem+json\r\n${retry}X-Request-Id: ${requestId}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The status line and headers of an upstream answer, as raw HTTP/1.1. */
function head(res: IncomingMessage): string {
  let out = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < res.rawHeaders.length; i += 2)
    out += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
  return `${out}\r\n`;
}

export function createTunnel(opts: TunnelOptions) {
  const target = new URL(opts.url);
  const base = target.pathname.replace(/\/+$/, '');
  const transport = target.protocol === 'https:' ? https : http;
  let open = 0;
  const joined = new Set<Duplex>();

  return {
    open: () => open,
    /** Ends every tunnel (a draining worker): their clients reconnect, to another worker. */
    close(): void {
      for (const socket of joined) socket.destroy();
    },
    /** An upgrade no ferrite route serves; `req` as express sees it, with its id and trace. */
    upgrade(req: Request, socket: Duplex, clientHead: Buffer): void {
      const requestId = req.id;
      socket.on('error', () => socket.destroy());
      const url = req.url ?? '';
      if (url.charCodeAt(0) !== 47 /* / */ || canonicalPath(pathOf(url)).problem) {
        refuse(socket, 400, 'This path is not forwarded.', requestId);
        return;
      }
      if (open >= opts.max) {
        refuse(socket, 503, 'Too many WebSockets to the legacy service are open on this worker.', requestId);
        return;
      }
      open++;
      let counted = true;
      const release = () => {
        if (counted) open--;
        counted = false;
      };
      socket.once('close', release);

      // The client's end-to-end headers and identity as for any legacy request, plus the two
      // hop-by-hop headers that make it an upgrade.
      const headers = upstreamRequestHeaders(req, { forwardAuthorization: true });
      headers.push('Connection', 'Upgrade', 'Upgrade', String(req.headers.upgrade ?? 'websocket'));
      const upstream = transport.request({
        host: target.hostname,
        port: target.port || (target.protocol === 'https:' ? 443 : 80),
        method: req.method,
        path: base + url,
        headers,
        agent: false,
        timeout: opts.connectTimeoutMs,
      });
      const answered = setTimeout(
        () => upstream.destroy(new Error('headers timeout')),
        opts.headersTimeoutMs,
      );
      const fail = (status: number, detail: string) => {
        clearTimeout(answered);
        if (!socket.destroyed) refuse(socket, status, detail, requestId);
      };
      upstream.once('timeout', () => upstream.destroy(new Error('connect timeout')));
      upstream.once('error', (err) => {
        const timedOut = /timeout/.test(err.message);
        opts.log.warn({ err, url }, 'legacy WebSocket handshake failed');
        fail(
          timedOut ? 504 : 502,
          timedOut
            ? 'The legacy service did not answer in time.'
            : 'The legacy service could not be reached.',
        );
      });
      // Not an upgrade after all: its answer, as sent, and the connection ends with it.
      upstream.once('response', (res) => {
        clearTimeout(answered);
        socket.write(head(res));
        res.pipe(socket);
      });
      upstream.once('upgrade', (res, up, upstreamHead) => {
        clearTimeout(answered);
        if (socket.destroyed) {
          up.destroy();
          return;
        }
        up.on('error', () => socket.destroy());
        socket.on('error', () => up.destroy());
        up.once('close', () => socket.destroy());
        socket.once('close', () => up.destroy());
        joined.add(socket);
        socket.once('close', () => joined.delete(socket));
        socket.write(head(res));
        if (upstreamHead.length > 0) socket.write(upstreamHead);
        if (clientHead.length > 0) up.write(clientHead);
        // Idle either way for too long: both sides close.
        up.setTimeout(opts.idleTimeoutMs, () => up.destroy());
        up.pipe(socket);
        socket.pipe(up);
      });
      upstream.end();
    },
  };
}
