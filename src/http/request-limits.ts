import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import { AppError, type ErrorCode, errorCodes, toProblem } from '../errors.ts';

// What the listeners refuse or cut off before (or while) the app sees a request: HTTP/1.1 the
// parser could not read, HTTP/2 header lists over the limit, and HTTP/2 bodies that stall.

/**
 * An HTTP/2 header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2:
 * name + value + 32 per field, pseudo-headers and each cookie crumb included). node:http2
 * advertises the setting but does not enforce it: many fields, crumbs, or one field repeated
 * (cheap on the wire through HPACK's table) all get through.
 */
export function headerListSize(raw: string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += (raw[i] as string).length;
  return size + (raw.length / 2) * 32;
}

const CLIENT_ERRORS: Record<string, { code: ErrorCode; reason: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'HEADERS_TOO_LARGE', reason: 'Request Header Fields Too Large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'REQUEST_TIMEOUT', reason: 'Request Timeout' },
};

/**
 * An HTTP/1.1 request Node's parser refused (headers over MAX_HEADER_SIZE, a malformed line, a
 * timeout) gets the same problem+json as every other error, instead of Node's bare status line.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent) {
    socket.destroy();
    return;
  }
  const { code, reason } = CLIENT_ERRORS[err.code ?? ''] ?? { code: 'BAD_REQUEST', reason: 'Bad Request' };
  const body = JSON.stringify(
    toProblem(new AppError(code, { detail: 'The request could not be read as HTTP/1.1.' }), '', ''),
  );
  socket.end(
    `HTTP/1.1 ${errorCodes[code].status} ${reason}\r\n` +
      'Content-Type: application/problem+json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // Nothing more will be read from it: gone once the answer is flushed.
  socket.once('finish', () => socket.destroy());
}

function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Answers an HTTP/2 request ferrite will not read with a problem, then closes its stream. */
export function refuseH2(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  code: ErrorCode,
  detail: string,
): void {
  const stream = req.stream;
  const close = () => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };
  if (stream.destroyed || res.headersSent) {
    close();
    return;
  }
  const body = JSON.stringify(toProblem(new AppError(code, { detail }), pathOnly(req.url), ''));
  res.writeHead(errorCodes[code].status, { 'content-type': 'application/problem+json; charset=utf-8' });
  res.end(body, close);
}

/**
 * headersTimeout/requestTimeout are HTTP/1.1 only; node:http2 has no per-stream deadline. A
 * request body must end within REQUEST_TIMEOUT_MS and never pause longer than
 * BODY_IDLE_TIMEOUT_MS, else the client gets 408 (or, when the answer already started, a
 * reset) and whoever reads the body sees it break off: the gateway aborts its upstream request
 * and gives the connection back to its pool, and the stream's buffers are freed.
 */
export function limitH2Body(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  limits: { requestTimeoutMs: number; bodyIdleTimeoutMs: number },
): void {
  const stream = req.stream;
  if (stream.endAfterHeaders) return;
  const expire = () => {
    done();
    if (req.readableEnded || stream.destroyed) return;
    const finish = () => {
      req.destroy(Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    };
    if (res.headersSent) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish();
      return;
    }
    const err = new AppError('REQUEST_TIMEOUT', {
      detail: 'The request body did not arrive in time.',
    });
    const id = (req as unknown as { id?: string }).id ?? '';
    res.writeHead(408, { 'content-type': 'application/problem+json; charset=utf-8' });
    res.end(JSON.stringify(toProblem(err, req.url, id)), finish);
  };
  const deadline = setTimeout(expire, limits.requestTimeoutMs);
  // Counts frames both ways; a body that has arrived disarms it below.
  stream.setTimeout(limits.bodyIdleTimeoutMs, expire);
  const done = () => {
    clearTimeout(deadline);
    stream.setTimeout(0);
    stream.off('timeout', expire);
  };
  // The request's end, not the stream's: express-h2 holds it until the client confirmed it
  // did not reset the stream, and a client that never confirms is cut off like a stalled one.
  req.once('end', done);
  stream.once('close', done);
}
