import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { type AuthUser, hasScopes, type TokenVerifier } from '../../http/auth.ts';
import type { StreamQuota } from '../../http/stream-quota.ts';
import type { Logger } from '../../log.ts';
import type { MinerClient } from './miner.client.ts';
import type { MinerEvent } from './miner.protocol.ts';

export interface LiveOptions {
  tokens: TokenVerifier;
  /** The user's open SSE streams and WebSockets in this worker. */
  streams: StreamQuota;
  /** Origins besides the request's own that may open /ws. */
  allowedOrigins: readonly string[];
  miner: MinerClient;
  log: Logger;
  pushIntervalMs: number;
  pingIntervalMs: number;
}

const require = createRequire(import.meta.url);
const NO_CLIENTS: ReadonlySet<WebSocket> = new Set();

// Beyond this much unsent data a client is slow: periodic stats are skipped (it gets the latest
// on the next tick); beyond the hard limit it is disconnected rather than queued for.
const SLOW_BYTES = 64 * 1024;
const DROP_BYTES = 1024 * 1024;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

type Refusal = 401 | 403 | 404 | 429;

function reject(socket: Duplex, status: Refusal, reason: string): void {
  const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests' }[status];
  const retry = status === 429 ? 'Retry-After: 5\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\n${retry}Connection: close\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

/** The origin of an `Origin` header (scheme://host[:port]), or undefined when it is not a URL. */
function originOf(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

// The close code a client gets when its access token expires: reconnect with a fresh one.
const TOKEN_EXPIRED = 4401;

/** The access token, from `?token=` or a `Sec-WebSocket-Protocol` entry shaped like a JWT. */
function tokenOf(req: IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const fromQuery = url.searchParams.get('token');
  if (fromQuery) return fromQuery;
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  return protocols.find((p) => JWT_SHAPE.test(p));
}

/**
 * `GET /ws`: live rig events over WebSocket (HTTP/1.1 upgrade, on both listeners). The token is
 * checked before the upgrade (401/403 otherwise). Clients get `{"type":"stats",…}` every push
 * interval and `{"type":"miner"|"block",…}` as they happen; dead peers are dropped by ping/pong.
 */
export function createLiveUpdates(opts: LiveOptions) {
  const alive = new WeakMap<WebSocket, boolean>();
  const allowed = new Set(
    opts.allowedOrigins.map((o) => originOf(o)?.origin).filter((o): o is string => Boolean(o)),
  );
  // The WebSocket server, `ws` itself and the push and ping timers start with the first upgrade:
  // a worker no dashboard connects to neither loads them nor wakes for them (issue 14).
  let wss: WebSocketServer | undefined;
  let push: NodeJS.Timeout | undefined;
  let ping: NodeJS.Timeout | undefined;
  const clients = (): ReadonlySet<WebSocket> => wss?.clients ?? NO_CLIENTS;

  const send = (ws: WebSocket, message: string, periodic: boolean) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > DROP_BYTES) {
      ws.terminate();
      return;
    }
    if (periodic && ws.bufferedAmount > SLOW_BYTES) return;
    ws.send(message);
  };
  const broadcast = (message: string, periodic: boolean) => {
    for (const ws of clients()) send(ws, message, periodic);
  };

  const unsubscribe = opts.miner.subscribe((event: MinerEvent) => {
    if (event.kind === 'stats' || clients().size === 0) return;
    broadcast(JSON.stringify({ type: event.kind, data: event.data }), false);
  });

  const server = (): WebSocketServer => {
    if (wss) return wss;
    const { WebSocketServer } = require('ws') as typeof import('ws');
    const created = new WebSocketServer({
      noServer: true,
      maxPayload: 4096,
      perMessageDeflate: false,
      // Echo a non-token subprotocol (e.g. "bearer") when the client offered one with its token.
      handleProtocols: (protocols) => [...protocols].find((p) => !JWT_SHAPE.test(p)) ?? false,
    });
    created.on('connection', (ws: WebSocket) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('error', () => ws.terminate());
      // Clients only listen; anything they send is ignored.
      void opts.miner
        .currentStatus()
        .then((status) => send(ws, JSON.stringify({ type: 'miner', data: status }), false))
        .catch(() => undefined);
    });
    push = setInterval(() => {
      if (created.clients.size === 0) return;
      void opts.miner
        .stats()
        .then(({ body }) => broadcast(`{"type":"stats","data":${body}}`, true))
        .catch(() => undefined);
    }, opts.pushIntervalMs);
    push.unref();
    ping = setInterval(() => {
      for (const ws of created.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    }, opts.pingIntervalMs);
    ping.unref();
    wss = created;
    return created;
  };

  /**
   * A browser always sends `Origin`; one from another site is refused (cross-site WebSocket
   * hijacking with a token the page got hold of). Clients that are not browsers send none.
   */
  const crossOrigin = (req: IncomingMessage): boolean => {
    const header = req.headers.origin;
    if (header === undefined) return false;
    const origin = originOf(header);
    if (!origin || origin.origin === 'null') return true;
    if (allowed.has(origin.origin)) return false;
    return origin.host.toLowerCase() !== String(req.headers.host ?? '').toLowerCase();
  };

  /** Who opens the socket, checked before the handshake; a refusal otherwise. */
  const admit = (req: IncomingMessage): AuthUser | [Refusal, string] => {
    if ((req.url ?? '').split('?')[0] !== '/ws') return [404, 'not found'];
    if (crossOrigin(req)) return [403, 'this origin may not open a WebSocket here'];
    const token = tokenOf(req);
    if (!token) return [401, 'an access token is required'];
    let user: AuthUser;
    try {
      user = opts.tokens.verify(token);
    } catch {
      return [401, 'the access token is invalid'];
    }
    return hasScopes(user.scopes, ['miner:read']) ? user : [403, 'this requires the scope miner:read'];
  };

  return {
    /** The 'upgrade' handler for every HTTP/1.1 listener. */
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      socket.on('error', () => socket.destroy());
      const user = admit(req);
      if (Array.isArray(user)) {
        reject(socket, user[0], user[1]);
        return;
      }
      const release = opts.streams.tryAcquire(user.id);
      if (!release) {
        reject(socket, 429, 'too many event streams and WebSockets open for this user');
        return;
      }
      // The socket closes whether or not the handshake completes: the slot is always returned.
      socket.once('close', release);
      const live = server();
      live.handleUpgrade(req, socket, head, (ws) => {
        // The socket may not outlive the token that opened it.
        const ms = Math.min(2 ** 31 - 1, Math.max(0, user.expiresAt - Date.now()));
        const expiry = setTimeout(() => ws.close(TOKEN_EXPIRED, 'access token expired'), ms);
        expiry.unref();
        ws.once('close', () => {
          clearTimeout(expiry);
          release();
        });
        live.emit('connection', ws, req);
      });
    },

    clients(): number {
      return clients().size;
    },

    /** Closes every client with 1001 (going away) so they reconnect to another worker. */
    close(): void {
      clearInterval(push);
      clearInterval(ping);
      unsubscribe();
      for (const ws of clients()) ws.close(1001, 'server restarting');
      wss?.close();
      opts.log.debug('live updates closed');
    },
  };
}

export type LiveUpdates = ReturnType<typeof createLiveUpdates>;
