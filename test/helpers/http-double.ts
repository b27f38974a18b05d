import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A small node:http server on a port the OS chooses, started and closed with the cluster (a Double). */
export class HttpDouble {
  #server: http.Server | undefined;
  readonly #handler: http.RequestListener;
  /** `http://127.0.0.1:PORT`, once started. */
  url = '';

  constructor(handler: http.RequestListener) {
    this.#handler = handler;
  }

  async start(): Promise<void> {
    this.#server = http.createServer(this.#handler);
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
