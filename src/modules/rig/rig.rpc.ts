import { inSpan } from '../../tracing/index.ts';
import { type NodeRpcClient, NodeRpcError } from './node.client.ts';

type Id = string | number | null;

interface RpcRequest {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
  id?: Id;
}

export interface RpcOutcome {
  status: number;
  /** undefined: nothing to send back (only notifications). */
  body: unknown;
}

const error = (id: Id, code: number, message: string) => ({ jsonrpc: '2.0', id, error: { code, message } });

function isRequest(v: unknown): v is RpcRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  const idOk = !('id' in r) || r.id === null || typeof r.id === 'string' || typeof r.id === 'number';
  const paramsOk = !('params' in r) || (typeof r.params === 'object' && r.params !== null);
  return r.jsonrpc === '2.0' && typeof r.method === 'string' && idOk && paramsOk;
}

function idOf(v: unknown): Id {
  const id = (v as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/**
 * The JSON-RPC 2.0 proxy in front of the node: validates single and batch requests, answers
 * invalid ones and methods outside the allow-list itself (they are never forwarded), sends the
 * rest to the node in one request, and merges the answers back in order.
 */
export async function proxyRpc(
  payload: unknown,
  node: NodeRpcClient,
  opts: { allowed: ReadonlySet<string>; maxBatch: number },
): Promise<RpcOutcome> {
  const batch = Array.isArray(payload);
  const items: unknown[] = batch ? (payload as unknown[]) : [payload];
  if (items.length === 0) return { status: 400, body: error(null, -32600, 'Invalid Request: empty batch') };
  if (items.length > opts.maxBatch) {
    return {
      status: 413,
      body: error(null, -32600, `Invalid Request: batches hold at most ${opts.maxBatch} calls`),
    };
  }

  const answers: unknown[] = new Array(items.length);
  const forward: { index: number; request: RpcRequest }[] = [];
  items.forEach((item, index) => {
    if (!isRequest(item)) answers[index] = error(idOf(item), -32600, 'Invalid Request');
    else if (!opts.allowed.has(item.method)) {
      answers[index] =
        'id' in item ? error(item.id ?? null, -32601, `Method not allowed: ${item.method}`) : undefined;
    } else forward.push({ index, request: item });
  });

  let status = 200;
  if (forward.length > 0) {
    const sent = batch ? forward.map((f) => f.request) : (forward[0] as { request: RpcRequest }).request;
    try {
      const res = await inSpan(
        'node.rpc',
        'client',
        {
          'rpc.system': 'jsonrpc',
          'rpc.method':
            forward.length === 1 ? (forward[0] as { request: RpcRequest }).request.method : 'batch',
          'ferrite.rpc.calls': forward.length,
        },
        () => node.post(JSON.stringify(sent)),
      );
      const parsed: unknown = JSON.parse(res.body);
      const replies = Array.isArray(parsed) ? parsed : [parsed];
      const byId = new Map(replies.map((r) => [idOf(r), r]));
      for (const f of forward) {
        if (!('id' in f.request)) continue;
        answers[f.index] =
          byId.get(f.request.id ?? null) ?? error(f.request.id ?? null, -32603, 'No answer from the node');
      }
    } catch (err) {
      const timeout = err instanceof NodeRpcError && err.kind === 'timeout';
      status = timeout ? 504 : 502;
      const message = timeout ? 'The node did not answer in time' : 'The node is unavailable';
      for (const f of forward) {
        if ('id' in f.request) answers[f.index] = error(f.request.id ?? null, -32000, message);
      }
    }
  }

  const out = answers.filter((a) => a !== undefined);
  if (!batch) return { status, body: out[0] };
  return { status, body: out.length > 0 ? out : undefined };
}
