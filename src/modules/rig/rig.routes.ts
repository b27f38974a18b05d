import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { caller, guard, type TokenVerifier } from '../../http/auth.ts';
import { jsonContent, type RouteSpec, route } from '../../http/route-spec.ts';
import type { MinerClient } from './miner.client.ts';
import type { NodeRpcClient } from './node.client.ts';
import {
  blockColumns,
  type Column,
  type ExportFormat,
  ExportSlots,
  statsColumns,
  streamExport,
} from './rig.export.ts';
import { proxyRpc } from './rig.rpc.ts';
import {
  blockPage,
  exportResponses,
  formatParam,
  minerStatus,
  rangeParams,
  stats,
  statsHistory,
} from './rig.schemas.ts';
import { blocksPage, history, statsSamples, validatedBlocksFound } from './rig.service.ts';

export interface RigDeps {
  miner: MinerClient;
  tokens: TokenVerifier;
  db: Database;
  /** The small pool exports stream from (Database.secondary), apart from `db`'s. */
  exportDb: Database;
  node: NodeRpcClient | undefined;
  config: Config;
}

export function rigRoutes({ miner, tokens, db, exportDb, node, config }: RigDeps): RouteSpec[] {
  const allowed = new Set(config.NODE_RPC_METHODS);
  const reader = guard(tokens, 'miner:read');
  const controller = guard(tokens, 'miner:control');
  const security = [{ bearer: [] }];
  // As many exports at once as the export pool has clients: beyond, 429 rather than a queue.
  const slots = new ExportSlots(config.EXPORT_POOL_SIZE, config.EXPORT_MAX_PER_USER);
  const exportRows = async (
    req: Request,
    res: Response,
    rows: () => Promise<Readable>,
    columns: readonly Column[],
    name: string,
    format: ExportFormat,
  ) => {
    const release = slots.take(caller(req).id);
    try {
      await streamExport(req, res, await rows(), columns, name, format, config.EXPORT_DRAIN_TIMEOUT_MS);
    } finally {
      release();
    }
  };
  return [
    {
      method: 'get',
      path: '/api/stats',
      operationId: 'getStats',
      summary: 'The latest rig snapshot, from memory; ETag and 304 on If-None-Match',
      tags: ['rig'],
      security,
      before: reader,
      responses: {
        200: { description: 'Snapshot', content: jsonContent(stats) },
        304: { description: 'Unchanged' },
      },
      handler: async (req, res) => {
        const { body, etag } = await miner.stats();
        res.set('ETag', etag).set('Cache-Control', 'no-cache');
        if (req.fresh) {
          res.status(304).end();
          return;
        }
        res.type('application/json').send(body);
      },
    },
    route<{ from?: string; to?: string; step: number }>({
      method: 'get',
      path: '/api/stats/history',
      operationId: 'getStatsHistory',
      summary:
        'The persisted stats series in step-second buckets with per-GPU averages, the state changes of the miner and the blocks found (default: the last hour by minute)',
      tags: ['rig'],
      security,
      before: reader,
      parameters: [
        ...rangeParams,
        { name: 'step', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 86_400, default: 60 } },
      ],
      responses: {
        200: {
          description: 'Series',
          content: jsonContent(statsHistory),
        },
      },
      handler: async (req, res) => {
        res.json(await history(db, req.query));
      },
    }),
    {
      method: 'get',
      path: '/api/miner/status',
      operationId: 'getMinerStatus',
      summary: 'State, pid, uptime, restarts, last exit and the last 50 log lines of the miner',
      tags: ['rig'],
      security,
      before: reader,
      responses: { 200: { description: 'Status', content: jsonContent(minerStatus) } },
      handler: async (_req, res) => {
        res.json(await miner.currentStatus());
      },
    },
    {
      method: 'post',
      path: '/api/miner/start',
      operationId: 'startMiner',
      summary: 'Start the miner: 202 while it starts, 200 when it already runs',
      tags: ['rig'],
      security,
      before: controller,
      responses: {
        200: { description: 'Already running', content: jsonContent(minerStatus) },
        202: { description: 'Starting', content: jsonContent(minerStatus) },
      },
      handler: async (_req, res) => {
        const reply = await miner.command('start');
        res.status(reply.result === 'started' ? 202 : 200).json(reply.status);
      },
    },
    {
      method: 'post',
      path: '/api/miner/stop',
      operationId: 'stopMiner',
      summary: 'Stop the miner (SIGTERM, SIGKILL after MINER_STOP_TIMEOUT_MS); idempotent',
      tags: ['rig'],
      security,
      before: controller,
      responses: { 200: { description: 'Stopped', content: jsonContent(minerStatus) } },
      handler: async (_req, res) => {
        res.json((await miner.command('stop')).status);
      },
    },
    route<{ limit: number; cursor?: string }>({
      method: 'get',
      path: '/api/blocks/validated',
      operationId: 'getValidatedBlocks',
      summary: 'Blocks the node confirmed, newest first, in keyset pages',
      tags: ['rig'],
      security,
      before: reader,
      parameters: [
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        { name: 'cursor', in: 'query', schema: { type: 'string', minLength: 1, maxLength: 400 } },
      ],
      responses: { 200: { description: 'A page', content: jsonContent(blockPage) } },
      handler: async (req, res) => {
        const { limit, cursor } = req.query;
        res.json(await blocksPage(db, limit, cursor));
      },
    }),
    route<{ from?: string; to?: string; format: ExportFormat }>({
      method: 'get',
      path: '/api/export/stats',
      operationId: 'exportStats',
      summary: 'Stored stats samples in [from, to) (default: everything) as CSV or NDJSON, streamed',
      tags: ['rig'],
      security,
      before: reader,
      parameters: [...rangeParams, formatParam],
      responses: exportResponses,
      handler: async (req, res) => {
        const q = req.query;
        await exportRows(req, res, () => statsSamples(exportDb, q), statsColumns, 'stats', q.format);
      },
    }),
    route<{ from?: string; to?: string; format: ExportFormat }>({
      method: 'get',
      path: '/api/export/blocks',
      operationId: 'exportBlocks',
      summary:
        'Validated blocks found in [from, to) (default: every one) as CSV or NDJSON, streamed, newest first',
      tags: ['rig'],
      security,
      before: reader,
      parameters: [...rangeParams, formatParam],
      responses: exportResponses,
      handler: async (req, res) => {
        const q = req.query;
        await exportRows(req, res, () => validatedBlocksFound(exportDb, q), blockColumns, 'blocks', q.format);
      },
    }),
    {
      method: 'post',
      path: '/api/node/rpc',
      operationId: 'nodeRpc',
      summary: 'JSON-RPC 2.0 to the node (single or batch); methods outside NODE_RPC_METHODS are refused',
      tags: ['rig'],
      security: [{ bearer: [] }],
      before: guard(tokens, 'node:rpc'),
      requestBody: {
        required: true,
        description: 'A JSON-RPC 2.0 request or batch',
        schema: { type: ['object', 'array'] },
      },
      responses: {
        200: { description: 'The JSON-RPC response(s)' },
        502: { description: 'The node is unavailable (JSON-RPC error objects)' },
        504: { description: 'The node did not answer in time (JSON-RPC error objects)' },
      },
      handler: async (req, res) => {
        if (!node) {
          throw new AppError('NODE_UNAVAILABLE', { detail: 'No node is configured (NODE_RPC_URL).' });
        }
        if (Buffer.byteLength(JSON.stringify(req.body)) > config.NODE_RPC_MAX_BODY_BYTES) {
          throw new AppError('PAYLOAD_TOO_LARGE', {
            detail: `JSON-RPC bodies are limited to ${config.NODE_RPC_MAX_BODY_BYTES} bytes.`,
          });
        }
        const out = await proxyRpc(req.body, node, { allowed, maxBatch: config.NODE_RPC_MAX_BATCH });
        if (out.body === undefined) res.status(204).end();
        else res.status(out.status).json(out.body);
      },
    },
  ];
}
