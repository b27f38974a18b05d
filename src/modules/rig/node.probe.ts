import type { NodeRpcClient } from './node.client.ts';

/** Whether the node answers; with its latency or the reason it does not, for admins. */
export interface NodeCheck {
  ok: boolean;
  latencyMs?: number;
  error?: string;
}

/** How long a result is served before the node is asked again (per worker). */
export const PROBE_EVERY_MS = 5000;
// How long `/api/ready` waits for a probe under way before answering without it: a balancer's
// check times out after about a second (HAProxy: `inter`), and a slow node must not take the
// host out of rotation, which is what a readiness answer later than that would do.
const WAIT_MS = 250;

const isRpcAnswer = (v: unknown) =>
  typeof v === 'object' && v !== null && ('result' in v || 'error' in v || 'jsonrpc' in v);

/**
 * Whether the blockchain node is reachable, for `/api/ready`: asks it `eth_blockNumber` at most
 * once every PROBE_EVERY_MS after the last answer, one probe at a time, and serves the last
 * result in between. Any JSON-RPC answer counts as reachable, an error object included; a
 * transport error, a timeout (NODE_RPC_TIMEOUT_MS) or a body that is not JSON-RPC does not.
 */
export class NodeProbe {
  readonly #node: NodeRpcClient;
  #last: { result: NodeCheck; at: number } | undefined;
  #probing: Promise<NodeCheck> | undefined;

  constructor(node: NodeRpcClient) {
    this.#node = node;
  }

  async check(): Promise<NodeCheck> {
    const last = this.#last;
    if (last && performance.now() - last.at < PROBE_EVERY_MS) return last.result;
    this.#probing ??= this.#probe().then((result) => {
      this.#last = { result, at: performance.now() };
      this.#probing = undefined;
      return result;
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), WAIT_MS);
    });
    const result = await Promise.race([this.#probing, waited]);
    clearTimeout(timer);
    return (
      result ??
      last?.result ?? { ok: false, error: `the node has not answered within ${WAIT_MS} ms; still waiting` }
    );
  }

  async #probe(): Promise<NodeCheck> {
    const started = performance.now();
    try {
      const res = await this.#node.post('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}');
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      let answer: unknown;
      try {
        answer = JSON.parse(res.body);
      } catch {
        answer = undefined;
      }
      if (isRpcAnswer(answer)) return { ok: true, latencyMs };
      return { ok: false, error: `the node answered ${res.status} with a body that is not JSON-RPC` };
    } catch (err) {
      // NodeRpcClient turns every transport failure and timeout into a NodeRpcError.
      return { ok: false, error: (err as Error).message };
    }
  }
}
