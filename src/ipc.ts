// How the serving side (a worker, or the single process's app) and the supervising side (the
// primary, or the single process's supervisor) talk: over node's IPC in the cluster, over an
// in-process pair in `PROCESS_MODEL=single`. Both carry the same messages, delivered the same
// way (asynchronously, as copies), so the code at either end does not know which it is on.
import cluster from 'node:cluster';

/** IPC message types between the primary and its workers. */
export const METRICS_REQUEST = 'ferrite:metrics-request';
export const METRICS_RESPONSE = 'ferrite:metrics-response';
export const WORKER_READY = 'ferrite:ready';
export const WORKER_SHUTDOWN = 'ferrite:shutdown';
/** Releases a worker forked during start-up (`env`: what start-up created). */
export const WORKER_GO = 'ferrite:go';
/** Set in the environment of a worker forked during start-up: it waits for WORKER_GO. */
export const WORKER_HOLD = 'FERRITE_HOLD';
/** Between the start-up process and its one-time helper (src/prepare.ts). */
export const PREPARE_CONFIG = 'ferrite:prepare-config';
export const PREPARE_RUN = 'ferrite:prepare-run';
export const PREPARE_DONE = 'ferrite:prepare-done';

export interface Message {
  type?: string;
  [key: string]: unknown;
}

/** One end of a link: what the other end sends arrives at `onMessage`. */
export interface Channel {
  /** False when nothing is at the other end (a worker started without a primary). */
  readonly connected: boolean;
  send(msg: object): void;
  onMessage(handler: (msg: Message) => void): void;
}

/** The supervising side's view of every serving end. */
export interface ServingEnds {
  broadcast(msg: object): void;
  /** `reply` answers the end the message came from. */
  onMessage(handler: (msg: Message, reply: (msg: object) => void) => void): void;
}

/** A worker's channel to its primary: node's IPC. */
export function processChannel(): Channel {
  return {
    get connected() {
      return Boolean(process.send) && process.connected;
    },
    send(msg) {
      if (process.connected) process.send?.(msg);
    },
    onMessage(handler) {
      process.on('message', (msg: Message) => {
        if (msg && typeof msg === 'object') handler(msg);
      });
    },
  };
}

/** The primary's view of its workers: node's cluster IPC. */
export function clusterEnds(): ServingEnds {
  return {
    broadcast(msg) {
      for (const worker of Object.values(cluster.workers ?? {})) {
        if (worker?.isConnected()) worker.send(msg);
      }
    },
    onMessage(handler) {
      cluster.on('message', (worker, msg: Message) => {
        if (!msg || typeof msg !== 'object') return;
        handler(msg, (answer) => {
          if (worker.isConnected()) worker.send(answer);
        });
      });
    },
  };
}

/**
 * Both ends of an in-process link (`PROCESS_MODEL=single`). Messages are copied and delivered on
 * a later turn of the event loop, as IPC delivers them: a receiver never shares an object with
 * the sender, and a handler never runs inside the sender's call.
 */
export function localLink(): { serving: Channel; supervising: ServingEnds } {
  const toServing = new Set<(msg: Message) => void>();
  const toSupervising = new Set<(msg: Message, reply: (msg: object) => void) => void>();
  const deliver = <A extends unknown[]>(handlers: Set<(...args: A) => void>, ...args: A) => {
    setImmediate(() => {
      for (const handler of handlers) handler(...args);
    });
  };
  const reply = (msg: object) => deliver(toServing, structuredClone(msg) as Message);
  return {
    serving: {
      connected: true,
      send(msg) {
        deliver(toSupervising, structuredClone(msg) as Message, reply);
      },
      onMessage(handler) {
        toServing.add(handler);
      },
    },
    supervising: {
      broadcast: reply,
      onMessage(handler) {
        toSupervising.add(handler);
      },
    },
  };
}
