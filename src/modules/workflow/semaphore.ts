/** Counts free slots; `acquire` waits in FIFO order and gives up when its signal aborts. */
export class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const granted = () => {
        signal.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = () => {
        const i = this.#waiters.indexOf(granted);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(signal.reason);
      };
      this.#waiters.push(granted);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }

  get waiting(): number {
    return this.#waiters.length;
  }
}
