import type { Pool } from 'undici';
import { undici } from '../../http/client.ts';

export class NodeRpcError extends Error {
  readonly kind: 'unavailable' | 'timeout' | 'bad-response';
  constructor(kind: NodeRpcError['kind'], message: string) {
    super(message);
    this.name = 'NodeRpcError';
    this.kind = kind;
  }
}

/**
 * A pooled keep-alive client for the blockchain node's JSON-RPC endpoint (undici). Sends a raw
 * body and returns the node's raw answer; connection failures and timeouts become NodeRpcError.
 */
export class NodeRpcClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #timeoutMs: number;
  #nextId = 0;

  constructor(url: string, timeoutMs: number, connections = 8) {
    const u = new URL(url);
    this.#pool = new (undici().Pool)(u.origin, {
      connections,
      keepAliveTimeout: 30_000,
      connectTimeout: timeoutMs,
    });
    this.#path = `${u.pathname}${u.search}`;
    this.#timeoutMs = timeoutMs;
  }

  async post(body: string): Promise<{ status: number; body: string }> {
    try {
      const res = await this.#pool.request({
        method: 'POST',
        path: this.#path,
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (err) {
      const { errors } = undici();
      if (
        err instanceof errors.HeadersTimeoutError ||
        err instanceof errors.BodyTimeoutError ||
        err instanceof errors.ConnectTimeoutError
      ) {
        throw new NodeRpcError('timeout', 'the node did not answer in time');
      }
      throw new NodeRpcError('unavailable', `the node is unreachable: ${(err as Error).message}`);
    }
  }

  /** One call; resolves with `result` (null included), rejects on transport or JSON-RPC errors. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    const id = ++this.#nextId;
    const res = await this.post(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    let parsed: { result?: unknown; error?: { message?: string } };
    try {
      parsed = JSON.parse(res.body);
    } catch {
      throw new NodeRpcError('bad-response', `the node answered ${res.status} with a body that is not JSON`);
    }
    if (parsed.error) throw new NodeRpcError('bad-response', parsed.error.message ?? 'JSON-RPC error');
    return parsed.result ?? null;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
