import type { Piscina } from 'piscina';
import type { Logger } from '../../log.ts';
import type { SearchResult, SearchTask } from './search.worker.ts';
import { Semaphore } from './semaphore.ts';

export interface SearchOptions {
  threads: number;
  timeoutMs: number;
  maxMatches: number;
  log: Logger;
}

export interface SearchQuery {
  query: string;
  regex?: boolean;
  ignoreCase?: boolean;
}

/** A step failure whose message is meant for the user (bad pattern, deadline). */
export class SearchError extends Error {
  override name = 'SearchError';
}

/** vfs.search on a piscina pool of worker threads, with a deadline that terminates a runaway thread. */
export class SearchPool {
  readonly #options: SearchOptions;
  // piscina is loaded, and the pool made, by the first search: a worker that never searches
  // never loads it (issue 14).
  #pool: Promise<Piscina<SearchTask, SearchResult>> | undefined;
  readonly #timeoutMs: number;
  readonly #maxMatches: number;
  // A search holds a whole project's text in memory (twice: here and in its thread), so no more
  // projects are loaded at once than there are threads to search them.
  readonly #slots: Semaphore;

  constructor(options: SearchOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#maxMatches = options.maxMatches;
    this.#slots = new Semaphore(options.threads);
    this.#options = options;
  }

  #started(): Promise<Piscina<SearchTask, SearchResult>> {
    this.#pool ??= import('piscina').then(({ Piscina }) => {
      const pool = new Piscina<SearchTask, SearchResult>({
        filename: new URL('./search.worker.ts', import.meta.url).href,
        minThreads: 0,
        maxThreads: this.#options.threads,
        idleTimeout: 30_000,
        // Queued searches wait at most as long as a running one may take, then fail alike.
        maxQueue: this.#options.threads * 64,
      });
      // Aborting a task whose result is already on its way makes piscina emit 'error' for the
      // orphaned message; without a listener that would crash the worker process.
      pool.on('error', (err: unknown) => this.#options.log.warn({ err }, 'search pool'));
      return pool;
    });
    return this.#pool;
  }

  /** Loads the files once a thread is free, then searches them. */
  async searchLoaded(
    load: () => Promise<{ path: string; content: string }[]>,
    q: SearchQuery,
    signal: AbortSignal,
  ): Promise<SearchResult> {
    await this.#slots.acquire(signal);
    try {
      const files = await load();
      signal.throwIfAborted();
      return await this.search(files, q, signal);
    } finally {
      this.#slots.release();
    }
  }

  async search(
    files: { path: string; content: string }[],
    q: SearchQuery,
    signal: AbortSignal,
  ): Promise<SearchResult> {
    const regex = q.regex ?? false;
    const ignoreCase = q.ignoreCase ?? false;
    if (regex) {
      try {
        // Compiling is linear in the pattern; only matching can run away, and that happens off-thread.
        new RegExp(q.query, ignoreCase ? 'gi' : 'g');
      } catch (err) {
        throw new SearchError(`invalid regular expression: ${(err as Error).message}`);
      }
    }
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    try {
      const pool = await this.#started();
      return await pool.run(
        { files, query: q.query, regex, ignoreCase, maxMatches: this.#maxMatches },
        { signal: AbortSignal.any([signal, deadline]) },
      );
    } catch (err) {
      if (deadline.aborted && !signal.aborted) {
        throw new SearchError(
          `search stopped after ${this.#timeoutMs} ms (SEARCH_TIMEOUT_MS); a pattern that backtracks catastrophically can cause this`,
        );
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    const pool = await this.#pool;
    await pool?.close({ force: true });
  }
}
