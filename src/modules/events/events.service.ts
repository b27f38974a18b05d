import type { Config } from '../../config.ts';
import type { Database, Queryable } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { inSpan } from '../../tracing/index.ts';
import * as repo from './events.repo.ts';

export const EVENT_TYPES = [
  'file.changed',
  'workflow.run.started',
  'workflow.step.started',
  'workflow.step.finished',
  'workflow.run.finished',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One event of a project's log; `seq` is its id on the event stream. */
export interface ProjectEvent {
  seq: number;
  type: string;
  data: unknown;
}

/** What a live subscriber (one SSE connection) is told by this worker's hub. */
export interface EventSink {
  /** An event, in the order the hub learnt of them; the sink drops duplicates and fills gaps. */
  offer(event: ProjectEvent): void;
  /** Events may have been missed (the listener reconnected): re-read from the log. */
  resync(): void;
  /** Stop: the project is gone, or this worker is draining. */
  end(reason: 'deleted' | 'draining'): void;
}

export const EVENTS_CHANNEL = 'ferrite_project_events';
// Per-project retention is enforced on every PRUNE_EVERY-th event rather than on each one.
const PRUNE_EVERY = 100;
const AGE_SWEEP_INTERVAL_MS = 10 * 60 * 1000;

interface Notification {
  p: string;
  s?: number;
  t?: string;
  d?: unknown;
  deleted?: boolean;
}

// jsonb refuses the NUL character; a model's or a file's output may contain one.
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

export interface EventsDeps {
  db: Database;
  config: Config;
  log: Logger;
}

/**
 * Project events: an append-only log per project in Postgres (the source of truth for replay)
 * and a NOTIFY per event so every worker on every host can wake its subscribers. This worker's
 * subscribers hang off one subscription to the worker's LISTEN session (`db.listen`); the hub
 * below is only a fan-out, never a store.
 */
export function createEventsService({ db, config, log }: EventsDeps) {
  const channels = new Map<string, Set<EventSink>>();
  // Notifications without data are read back per project, in order, once for all subscribers.
  const readBacks = new Map<string, Promise<void>>();

  const dispatch = (projectId: string, event: ProjectEvent) => {
    for (const sink of channels.get(projectId) ?? []) sink.offer(event);
  };

  const readBack = (projectId: string, seq: number) => {
    const previous = readBacks.get(projectId) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        if (!channels.has(projectId)) return;
        const [row] = await repo.eventsAfter(db, projectId, seq - 1, 1);
        if (row && Number(row.seq) === seq) dispatch(projectId, toEvent(row));
      })
      .catch((err) => {
        log.warn({ err, projectId }, 'reading an event back failed; subscribers resync');
        for (const sink of channels.get(projectId) ?? []) sink.resync();
      });
    readBacks.set(projectId, next);
    void next.finally(() => {
      if (readBacks.get(projectId) === next) readBacks.delete(projectId);
    });
  };

  const onNotification = (payload: string) => {
    let n: Notification;
    try {
      n = JSON.parse(payload) as Notification;
    } catch {
      return;
    }
    if (!channels.has(n.p)) return;
    if (n.deleted) {
      for (const sink of channels.get(n.p) ?? []) sink.end('deleted');
      return;
    }
    if (typeof n.s !== 'number' || typeof n.t !== 'string') return;
    // Keep order behind a read-back already under way for this project.
    if (n.d === undefined || n.d === null || readBacks.has(n.p)) readBack(n.p, n.s);
    else dispatch(n.p, { seq: n.s, type: n.t, data: n.d });
  };

  // Notifications sent while the session was down are lost: every subscriber re-reads the log.
  const listener = db.listen(EVENTS_CHANNEL, onNotification, {
    onListening: () => {
      for (const sinks of channels.values()) for (const sink of sinks) sink.resync();
    },
  });

  let closed = false;
  let sweep: NodeJS.Timeout | undefined;
  if (config.EVENTS_RETAIN_SECONDS > 0) {
    // Every worker sweeps; the DELETE is idempotent, so overlapping sweeps only cost a scan.
    sweep = setInterval(() => {
      repo
        .pruneEventsOlderThan(db, config.EVENTS_RETAIN_SECONDS)
        .then((n) => n > 0 && log.info({ deleted: n }, 'old project events pruned'))
        .catch((err) => log.warn({ err }, 'pruning old project events failed'));
    }, AGE_SWEEP_INTERVAL_MS);
    sweep.unref();
  }

  /**
   * Appends an event to the project's log inside the caller's transaction and returns its
   * sequence number; subscribers everywhere hear of it when that transaction commits.
   */
  async function publish(
    client: Queryable,
    projectId: string,
    type: EventType,
    data: unknown,
  ): Promise<number> {
    const json = JSON.stringify(data ?? null).replace(JSON_NUL, '$1\\ufffd');
    const seq = await inSpan(
      `publish ${type}`,
      'producer',
      {
        'messaging.system': 'ferrite.events',
        'messaging.destination.name': type,
        'ferrite.project': projectId,
      },
      () => repo.appendEvent(client, EVENTS_CHANNEL, projectId, type, json),
    );
    if (seq === undefined) throw new AppError('NOT_FOUND', { detail: 'No such project.' });
    if (seq % PRUNE_EVERY === 0 && seq > config.EVENTS_RETAIN_PER_PROJECT) {
      await repo.pruneProjectEvents(client, projectId, seq - config.EVENTS_RETAIN_PER_PROJECT);
    }
    return seq;
  }

  return {
    publish,

    /** `publish` in a transaction of its own. */
    publishNow(projectId: string, type: EventType, data: unknown): Promise<number> {
      return db.transaction((client) => publish(client, projectId, type, data));
    },

    /** Tells every worker's subscribers of a project that it is gone (call in the deleting transaction). */
    async projectDeleted(client: Queryable, projectId: string): Promise<void> {
      await repo.notify(client, EVENTS_CHANNEL, JSON.stringify({ p: projectId, deleted: true }));
    },

    /** Events after `afterSeq`, oldest first, at most `limit`. */
    async after(projectId: string, afterSeq: number, limit: number): Promise<ProjectEvent[]> {
      return (await repo.eventsAfter(db, projectId, afterSeq, limit)).map(toEvent);
    },

    /** The project's last sequence number and its oldest retained event; undefined without the project. */
    sequence(projectId: string) {
      return repo.sequenceState(db, projectId);
    },

    /** Adds a live subscriber on this worker; returns its unsubscribe function. */
    subscribe(projectId: string, sink: EventSink): () => void {
      if (closed) {
        // A stream opened on a draining worker ends at once; its client reconnects elsewhere.
        queueMicrotask(() => sink.end('draining'));
        return () => undefined;
      }
      let sinks = channels.get(projectId);
      if (!sinks) {
        sinks = new Set();
        channels.set(projectId, sinks);
      }
      sinks.add(sink);
      return () => {
        const set = channels.get(projectId);
        if (!set) return;
        set.delete(sink);
        if (set.size === 0) channels.delete(projectId);
      };
    },

    /** Live subscribers on this worker. */
    subscribers(): number {
      let n = 0;
      for (const sinks of channels.values()) n += sinks.size;
      return n;
    },

    /** Whether this worker's LISTEN session is up. */
    listening(): boolean {
      return listener.listening;
    },

    /** Ends every live stream on this worker (drain) and leaves the LISTEN session. */
    async close(): Promise<void> {
      closed = true;
      clearInterval(sweep);
      for (const sinks of [...channels.values()]) for (const sink of [...sinks]) sink.end('draining');
      listener.close();
    },
  };
}

function toEvent(row: repo.EventRow): ProjectEvent {
  return { seq: Number(row.seq), type: row.type, data: row.data };
}

export type EventsService = ReturnType<typeof createEventsService>;
