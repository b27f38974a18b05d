import http from 'node:http';
import http2 from 'node:http2';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * A text/event-stream reader over HTTP/1.1 or HTTP/2 that parses the stream as EventSource
 * does (id/event/data/retry fields, `:` comments, blank-line dispatch) and keeps everything it saw.
 */
export class SseStream {
  status = 0;
  headers: Headers = {};
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** The last id seen, as EventSource would send it back in Last-Event-ID. */
  lastEventId: string | undefined;
  /** Resolves when the server ends the stream or the connection breaks. */
  readonly ended: Promise<void>;
  #end: () => void = () => undefined;
  #done = false;
  #buffer = '';
  #pending: { id?: string; event?: string; data: string[] } = { data: [] };
  #waiters = new Set<() => void>();
  #close: () => void = () => undefined;
  raw = '';

  constructor() {
    this.ended = new Promise((resolve) => {
      this.#end = resolve;
    });
  }

  get done(): boolean {
    return this.#done;
  }

  /** Opens a stream over HTTP/1.1 (on `agent`'s connection when given). */
  static h1(url: string, headers: Record<string, string> = {}, agent?: http.Agent): Promise<SseStream> {
    const s = new SseStream();
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent }, (res) => {
        s.status = res.statusCode ?? 0;
        s.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => s.#feed(chunk));
        res.on('end', () => s.#finish());
        res.on('error', () => s.#finish());
        res.on('close', () => s.#finish());
        resolve(s);
      });
      req.on('error', (err) => {
        if (s.status === 0) reject(err);
        s.#finish();
      });
      s.#close = () => req.destroy();
    });
  }

  /** Opens a stream on an HTTP/2 session. */
  static h2(session: http2.ClientHttp2Session, path: string, headers: Record<string, string> = {}) {
    const s = new SseStream();
    return new Promise<SseStream>((resolve, reject) => {
      const stream = session.request({ ':path': path, accept: 'text/event-stream', ...headers });
      stream.setEncoding('utf8');
      stream.on('response', (h) => {
        s.status = Number(h[':status']);
        s.headers = h as Headers;
        resolve(s);
      });
      stream.on('data', (chunk: string) => s.#feed(chunk));
      stream.on('end', () => s.#finish());
      stream.on('close', () => s.#finish());
      stream.on('error', (err) => {
        if (s.status === 0) reject(err);
        s.#finish();
      });
      s.#close = () => stream.close(http2.constants.NGHTTP2_CANCEL);
    });
  }

  /** Body text of a non-stream answer (an error), once it ended. */
  async text(): Promise<string> {
    await this.ended;
    return this.raw;
  }

  #feed(chunk: string): void {
    this.raw += chunk;
    this.#buffer += chunk;
    for (;;) {
      const nl = this.#buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const line = this.#buffer.slice(0, nl);
      const skip = this.#buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.#buffer = this.#buffer.slice(nl + skip);
      this.#line(line);
    }
    for (const w of this.#waiters) w();
  }

  #line(line: string): void {
    if (line === '') {
      const p = this.#pending;
      this.#pending = { data: [] };
      if (p.id !== undefined) this.lastEventId = p.id;
      if (p.data.length > 0) {
        this.events.push({
          id: p.id ?? this.lastEventId,
          event: p.event ?? 'message',
          data: p.data.join('\n'),
        });
      }
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') this.#pending.id = value;
    else if (field === 'event') this.#pending.event = value;
    else if (field === 'data') this.#pending.data.push(value);
    else if (field === 'retry') this.retry = Number(value);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#end();
    for (const w of this.#waiters) w();
  }

  /** Waits until `predicate` holds for what was received; fails after `timeoutMs` or at the end of the stream. */
  waitFor(what: string, predicate: (s: SseStream) => boolean, timeoutMs = 15_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; received ${this.events.length} events`));
      }, timeoutMs);
      const check = () => {
        if (predicate(this)) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        } else if (this.#done) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          reject(new Error(`the stream ended before ${what}; received ${this.events.length} events`));
        }
      };
      this.#waiters.add(check);
    });
  }

  /** Waits for `n` events in all. */
  waitForEvents(n: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(`${n} events`, (s) => s.events.length >= n, timeoutMs);
  }

  close(): void {
    this.#close();
  }
}

/** Parsed `data` of the events. */
export function dataOf<T = Record<string, unknown>>(events: SseEvent[]): T[] {
  return events.map((e) => JSON.parse(e.data) as T);
}

/** The numeric ids of the events. */
export function idsOf(events: SseEvent[]): number[] {
  return events.map((e) => Number(e.id));
}
