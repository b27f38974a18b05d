import type { IncomingMessage } from 'node:http';
import type { Response } from 'express';
import type { Logger } from '../../log.ts';
import type { EventSink, EventsService, ProjectEvent } from '../events/index.ts';

export interface StreamOptions {
  events: EventsService;
  projectId: string;
  /** The last event the client saw (Last-Event-ID); undefined: only what happens from now on. */
  lastEventId: number | undefined;
  heartbeatMs: number;
  retryMs: number;
  maxBufferBytes: number;
  /** When the stream ends by itself (ms since the epoch): the access token's expiry. */
  endAt?: number;
  log: Logger;
}

/** Events read from the log per query while catching up. */
const PAGE = 500;
const DRAIN_TIMEOUT_MS = 30_000;

// One serialisation per event per worker, however many subscribers it is sent to.
const frames = new WeakMap<ProjectEvent, string>();

function frameOf(event: ProjectEvent): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    // JSON never contains a raw newline, so the data fits on one `data:` line.
    frame = `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
    frames.set(event, frame);
  }
  return frame;
}

/** Bytes written to the response but not yet handed to the kernel, on HTTP/1.1 and HTTP/2. */
function buffered(res: Response): number {
  const h2 = (res as unknown as { stream?: { writableLength: number } }).stream;
  return h2 ? h2.writableLength : res.writableLength;
}

/**
 * One `text/event-stream` response for a project. Events come from the project's log in
 * Postgres (replay after Last-Event-ID, and whenever a gap shows) and from this worker's hub
 * (live). The stream only ever writes the event after the last one written, so a client sees
 * every event once, in order, with nothing lost between replay and live. The response head
 * goes out only once the stream knows where it starts, so whatever changes after the client
 * sees the stream open is on it. Resolves when the response closes.
 */
export function serveEventStream(req: IncomingMessage, res: Response, opts: StreamOptions): Promise<void> {
  const { events, projectId, log } = opts;
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    // nginx and similar proxies buffer responses unless told not to.
    'X-Accel-Buffering': 'no',
  });

  let lastSeq = opts.lastEventId ?? -1;
  let started = false;
  let catching = false;
  let again = false;
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let expiry: NodeJS.Timeout | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    clearTimeout(expiry);
    unsubscribe();
  };

  const write = (chunk: string) => {
    if (closed) return;
    res.write(chunk);
    // A client this far behind is cut off rather than queued for: it resumes with Last-Event-ID.
    if (buffered(res) > opts.maxBufferBytes) {
      log.info({ projectId, buffered: buffered(res) }, 'event-stream client too slow; disconnected');
      close();
      res.destroy();
    }
  };

  const send = (event: ProjectEvent) => {
    if (event.seq > lastSeq + 1) {
      // Only pruning leaves a hole in a project's sequence.
      write(reset('pruned', lastSeq, event.seq - 1));
    }
    write(frameOf(event));
    lastSeq = event.seq;
  };

  // Replay goes at the client's pace: past half the limit it waits for the backlog to clear,
  // and a client that reads nothing for DRAIN_TIMEOUT_MS is let go like any slow client.
  const waitForDrain = () =>
    new Promise<void>((resolve) => {
      const started = Date.now();
      const check = () => {
        if (closed || buffered(res) <= opts.maxBufferBytes / 2) return done();
        if (Date.now() - started > DRAIN_TIMEOUT_MS) {
          log.info({ projectId }, 'event-stream client stopped reading during replay; disconnected');
          close();
          res.destroy();
          done();
        }
      };
      const timer = setInterval(check, 50);
      const done = () => {
        clearInterval(timer);
        res.off('drain', check);
        res.off('close', check);
        resolve();
      };
      res.on('drain', check);
      res.on('close', check);
      check();
    });

  /** Reads the log until nothing newer than lastSeq is left, then live events take over. */
  const catchUp = async () => {
    if (catching) {
      again = true;
      return;
    }
    catching = true;
    try {
      if (!started) {
        started = true;
        const state = await events.sequence(projectId);
        if (closed) return;
        if (!state) {
          res.end();
          return close();
        }
        // The client sees the stream open (head, `retry:`) only now that its start is known:
        // anything committed from here on numbers above state.current, so it is sent. With the
        // head sent first, a change committed before this read (start-up queued behind a busy
        // pool) was taken for already seen by a client that had seen the stream open.
        res.flushHeaders();
        write(`retry: ${opts.retryMs}\n\n`);
        heartbeat = setInterval(() => write(': heartbeat\n\n'), opts.heartbeatMs);
        heartbeat.unref();
        if (opts.lastEventId === undefined) lastSeq = state.current;
        else if (lastSeq > state.current) {
          // An id this project never issued: start over from now.
          write(reset('unknown-id', lastSeq, state.current));
          lastSeq = state.current;
        }
      }
      for (;;) {
        again = false;
        const page = await events.after(projectId, lastSeq, PAGE);
        if (closed) return;
        for (const event of page) {
          send(event);
          if (buffered(res) > opts.maxBufferBytes / 2) await waitForDrain();
          if (closed) return;
        }
        if (page.length < PAGE && !again) break;
      }
    } catch (err) {
      log.warn({ err, projectId }, 'event-stream replay failed; disconnecting');
      close();
      res.destroy();
    } finally {
      catching = false;
    }
  };

  const sink: EventSink = {
    offer(event) {
      if (closed || event.seq <= lastSeq) return;
      if (catching) again = true;
      else if (event.seq === lastSeq + 1) send(event);
      else void catchUp();
    },
    resync() {
      if (!closed && started) void catchUp();
    },
    end(reason) {
      if (closed) return;
      close();
      // A draining worker's HTTP/1.1 connection closes with the stream, so the client's
      // reconnection opens a new one (to a worker that stays). HTTP/2 sessions get GOAWAY.
      if (reason === 'draining' && req.httpVersionMajor === 1)
        res.once('finish', () => req.socket.destroySoon());
      res.end();
    },
  };

  // Subscribe before reading the log: whatever commits meanwhile is either read or offered.
  const unsubscribe = events.subscribe(projectId, sink);

  if (opts.endAt !== undefined) {
    // The token that opened the stream has expired: end it, so the client reconnects with a
    // fresh token and resumes by Last-Event-ID.
    const ms = Math.min(2 ** 31 - 1, Math.max(0, opts.endAt - Date.now()));
    expiry = setTimeout(() => {
      if (closed) return;
      close();
      res.end();
    }, ms);
    expiry.unref();
  }

  return new Promise<void>((resolve) => {
    res.once('close', () => {
      close();
      resolve();
    });
    req.once('close', () => {
      if (!res.writableEnded) res.end();
    });
    void catchUp();
  });
}

/**
 * A `stream.reset` event: events between `from` and `to` cannot be replayed (pruned, or an id
 * this project never issued); the client should re-read what it shows. Its id moves the
 * client's Last-Event-ID past the hole.
 */
function reset(reason: 'pruned' | 'unknown-id', from: number, to: number): string {
  return `id: ${to}\nevent: stream.reset\ndata: ${JSON.stringify({ reason, lastEventId: from, resumeAfter: to })}\n\n`;
}
