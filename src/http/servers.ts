import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Express } from 'express';
import { http } from '../builtins.ts';
import type { Logger } from '../log.ts';
import { createH2Handler } from './express-h2.ts';
import { answerClientError, headerListSize, limitH2Body, refuseH2 } from './request-limits.ts';

export interface ServerOptions {
  host: string;
  /** null: no such listener; 0: a port the OS chooses. */
  httpPort: number | null;
  httpsPort: number | null;
  tls: { cert: Buffer; key: Buffer } | undefined;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** A request body that sends nothing for this long is cut off (both protocols). */
  bodyIdleTimeoutMs: number;
  maxHeaderSize: number;
  h2MaxConcurrentStreams: number;
  h2MaxSessionMemoryMb: number;
}

// How long a draining worker keeps answering on open connections before closing idle ones.
const DRAIN_GRACE_MS = 500;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * The worker's listeners. Cleartext (`HTTP_PORT`) serves HTTP/1.1 and h2c with prior knowledge
 * on one port: node:http2's cleartext server ignores allowHTTP1, so the first bytes of each
 * connection decide which server gets the socket. TLS (`HTTPS_PORT`) negotiates h2 or
 * http/1.1 by ALPN.
 */
export class HttpServers {
  readonly h1: Server;
  readonly h2c: http2.Http2Server;
  readonly secure: http2.Http2SecureServer | undefined;
  readonly cleartext: net.Server;
  readonly #opts: ServerOptions;
  readonly #log: Logger;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 responses under way, so a drain can still mark them `Connection: close`. */
  readonly #inFlight = new Set<ServerResponse>();
  #draining = false;

  constructor(app: Express, opts: ServerOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    const h2 = createH2Handler(app);
    const onH2 = (req: Http2ServerRequest, res: Http2ServerResponse) => {
      if (headerListSize(req.rawHeaders) > opts.maxHeaderSize) {
        refuseH2(req, res, 'HEADERS_TOO_LARGE', `The request headers exceed ${opts.maxHeaderSize} bytes.`);
        return;
      }
      limitH2Body(req, res, opts);
      h2(req, res);
    };
    const onH1 = (req: IncomingMessage, res: ServerResponse) => {
      // While draining, every response tells the client to open its next connection elsewhere.
      if (this.#draining) res.shouldKeepAlive = false;
      else {
        this.#inFlight.add(res);
        res.once('close', () => this.#inFlight.delete(res));
      }
      app(req, res);
    };

    this.h1 = http.createServer(
      {
        maxHeaderSize: opts.maxHeaderSize,
        headersTimeout: opts.headersTimeoutMs,
        requestTimeout: opts.requestTimeoutMs,
        keepAliveTimeout: opts.keepAliveTimeoutMs,
      },
      onH1,
    );
    this.h1.on('clientError', answerClientError);
    // The h1 server never listens itself; 'listening' starts Node's connection tracking,
    // which enforces headers/request timeouts and lets drain() close idle connections.
    this.h1.emit('listening');

    const h2Options = {
      maxSessionMemory: opts.h2MaxSessionMemoryMb,
      settings: {
        maxConcurrentStreams: opts.h2MaxConcurrentStreams,
        maxHeaderListSize: opts.maxHeaderSize,
      },
    };
    this.h2c = http2.createServer(h2Options, onH2);
    this.h2c.on('session', (s) => this.#trackSession(s));

    this.cleartext = net.createServer({ noDelay: true }, (socket) => this.#sniff(socket));

    if (opts.tls) {
      const secure = http2.createSecureServer(
        {
          ...h2Options,
          cert: opts.tls.cert,
          key: opts.tls.key,
          allowHTTP1: true,
          minVersion: 'TLSv1.2',
          // Applies to the HTTP/1.1 fallback; not in @types/node's SecureServerOptions.
          ...({ maxHeaderSize: opts.maxHeaderSize } as object),
        },
        (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
          if (req.httpVersionMajor === 2) {
            onH2(req as Http2ServerRequest, res as Http2ServerResponse);
          } else {
            onH1(req as IncomingMessage, res as ServerResponse);
          }
        },
      );
      Object.assign(secure, {
        keepAliveTimeout: opts.keepAliveTimeoutMs,
        headersTimeout: opts.headersTimeoutMs,
        requestTimeout: opts.requestTimeoutMs,
      });
      secure.on('connection', (socket: net.Socket) => this.#track(socket));
      secure.on('session', (s) => this.#trackSession(s));
      secure.on('tlsClientError', () => undefined);
      secure.on('clientError', answerClientError);
      this.secure = secure;
    }
  }

  /** Replaces the TLS certificate: new connections get it, open ones keep theirs. */
  setCertificate(tls: { cert: Buffer; key: Buffer }): void {
    this.secure?.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
  }

  /** Routes HTTP/1.1 upgrade requests (WebSocket) from both listeners to `handler`. */
  onUpgrade(handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
    this.h1.on('upgrade', handler);
    this.secure?.on('upgrade', handler);
  }

  get draining(): boolean {
    return this.#draining;
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #trackSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err) => this.#log.debug({ err }, 'http2 session error'));
    // An idle session is closed with GOAWAY, like an idle HTTP/1.1 keep-alive connection.
    session.setTimeout(this.#opts.keepAliveTimeoutMs, () => session.close());
    if (this.#draining) this.#closeSession(session);
  }

  /**
   * Two-step GOAWAY, as RFC 9113 §6.8 suggests: first announce the shutdown with the highest
   * stream id, so streams already on the wire are still served, then after the grace period
   * send the real last stream id. A client never sees REFUSED_STREAM for a request it sent in time.
   */
  #closeSession(session: http2.ServerHttp2Session): void {
    if (session.closed || session.destroyed) return;
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, 2 ** 31 - 1);
    setTimeout(() => session.close(), DRAIN_GRACE_MS).unref();
  }

  #sniff(socket: net.Socket): void {
    this.#track(socket);
    socket.on('error', () => socket.destroy());
    // A connection that never says anything is dropped like one that never sends headers.
    socket.setTimeout(this.#opts.headersTimeoutMs, () => socket.destroy());
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const h2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2 && seen.length < H2_PREFACE.length) return;
      socket.removeListener('data', onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(seen);
      if (h2) {
        // node:http2 reads what is already buffered on the socket when the session starts.
        this.h2c.emit('connection', socket);
      } else {
        this.h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  async listen(): Promise<{ http?: number; https?: number }> {
    const listen = (server: net.Server, port: number) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host: this.#opts.host }, () => {
          server.off('error', reject);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    const ports: { http?: number; https?: number } = {};
    if (this.#opts.httpPort !== null) ports.http = await listen(this.cleartext, this.#opts.httpPort);
    if (this.secure && this.#opts.httpsPort !== null) {
      ports.https = await listen(this.secure, this.#opts.httpsPort);
    }
    return ports;
  }

  /**
   * Stops accepting, lets in-flight requests finish, and closes connections politely:
   * HTTP/2 sessions get GOAWAY, HTTP/1.1 responses carry `Connection: close` and idle
   * keep-alive connections are closed after a short grace period (a client that is mid-way
   * through reusing one would otherwise race the close). Whatever is left at the deadline is
   * destroyed.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const deadline = Date.now() + timeoutMs;
    if (this.cleartext.listening) this.cleartext.close();
    if (this.secure?.listening) net.Server.prototype.close.call(this.secure);
    for (const session of this.#sessions) this.#closeSession(session);
    for (const res of this.#inFlight) if (!res.headersSent) res.shouldKeepAlive = false;

    await sleep(Math.min(DRAIN_GRACE_MS, timeoutMs / 4));
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      this.h1.closeIdleConnections();
      // Present when allowHTTP1 is set; missing from @types/node.
      (this.secure as unknown as Server | undefined)?.closeIdleConnections();
      await sleep(50);
    }
    if (this.#sockets.size > 0) {
      this.#log.warn({ connections: this.#sockets.size }, 'drain deadline reached; closing connections');
      for (const socket of this.#sockets) socket.destroy();
    }
    this.h1.close();
  }
}
