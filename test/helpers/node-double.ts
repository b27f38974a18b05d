import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIM_MINER_ENV } from './cluster.ts';

type Call = { method: string; params?: unknown; id?: unknown; jsonrpc?: unknown };

/**
 * A stand-in for the blockchain node: a small JSON-RPC 2.0 server. It knows every block hash
 * it is told about (`confirm`), can be made unavailable (`down`), slow (`delayMs`) or to answer
 * every call with a JSON-RPC error object (`rpcError`), and records what it was asked. Closed,
 * it can be started again on the port it had (`start(port)`), so the service's URL still holds.
 */
export class NodeDouble {
  readonly calls: Call[] = [];
  readonly known = new Set<string>();
  /** When set, every request is answered with HTTP 503 and no JSON. */
  down = false;
  delayMs = 0;
  /** When set, every call is answered with a JSON-RPC error object (HTTP 200). */
  rpcError = false;
  /** When set, getBlockByHash knows every hash. */
  confirmAll = true;
  #server: http.Server | undefined;
  url = '';

  /** Listens on `port` (0: one the OS chooses); `url` is the endpoint. */
  async start(port = 0): Promise<string> {
    this.#server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => {
        if (this.down) {
          res.writeHead(503).end('unavailable');
          return;
        }
        const payload = JSON.parse(raw) as Call | Call[];
        const batch = Array.isArray(payload);
        const answers = (batch ? payload : [payload]).map((c) => {
          this.calls.push(c);
          if (this.rpcError) return { jsonrpc: '2.0', id: c.id, error: { code: -32000, message: 'busy' } };
          return { jsonrpc: '2.0', id: c.id, result: this.#answer(c) };
        });
        setTimeout(() => {
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify(batch ? answers : answers[0]));
        }, this.delayMs);
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/rpc`;
    return this.url;
  }

  #answer(c: Call): unknown {
    switch (c.method) {
      case 'eth_blockNumber':
        return '0x1b4';
      case 'eth_chainId':
        return '0x2329';
      case 'eth_getBlockByHash': {
        const hash = Array.isArray(c.params) ? String(c.params[0]) : '';
        return this.confirmAll || this.known.has(hash) ? { hash, number: '0x1' } : null;
      }
      default:
        return `echo:${c.method}`;
    }
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

/** The simulated miner finding a block every other report, each validated against `node`. */
export const minerWithNode = (node: NodeDouble) => ({
  DEFAULT_SCOPES: 'miner:read,miner:control,node:rpc',
  ...SIM_MINER_ENV,
  SIM_MINER_INTERVAL_MS: '50',
  SIM_MINER_BLOCK_CHANCE: '0.5',
  NODE_RPC_URL: node.url,
});
