import { jsonContent, type RouteSpec } from '../../http/routes.ts';
import { type AccessTokens, authenticate, requireScope } from '../auth/auth.tokens.ts';
import type { MinerClient } from './miner.client.ts';

const minerStatus = {
  type: 'object',
  required: ['state', 'pid', 'startedAt', 'uptimeSeconds', 'restarts', 'lastExit', 'recentLog'],
  properties: {
    state: { enum: ['stopped', 'starting', 'running', 'stopping', 'crashed'] },
    pid: { type: ['integer', 'null'] },
    startedAt: { type: ['string', 'null'], format: 'date-time' },
    uptimeSeconds: { type: 'number' },
    restarts: { type: 'integer' },
    lastExit: {
      type: ['object', 'null'],
      properties: {
        code: { type: ['integer', 'null'] },
        signal: { type: ['string', 'null'] },
        at: { type: 'string' },
      },
    },
    recentLog: { type: 'array', items: { type: 'string' }, maxItems: 50 },
  },
};

const stats = {
  type: 'object',
  required: ['hashrate', 'shares', 'gpus', 'miner', 'updatedAt'],
  properties: {
    hashrate: {
      type: 'object',
      properties: {
        current: { type: 'number' },
        avg1m: { type: 'number' },
        avg15m: { type: 'number' },
        unit: { const: 'H/s' },
      },
    },
    shares: {
      type: 'object',
      properties: {
        accepted: { type: 'integer' },
        rejected: { type: 'integer' },
        stale: { type: 'integer' },
      },
    },
    gpus: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer' },
          name: { type: 'string' },
          temperatureC: { type: 'number' },
          fanPercent: { type: 'number' },
          powerW: { type: 'number' },
          hashrate: { type: 'number' },
        },
      },
    },
    miner: { type: 'object', properties: { state: { type: 'string' }, uptimeSeconds: { type: 'number' } } },
    updatedAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

export function rigRoutes(miner: MinerClient, tokens: AccessTokens): RouteSpec[] {
  const reader = [authenticate(tokens), requireScope('miner:read')];
  const controller = [authenticate(tokens), requireScope('miner:control')];
  const security = [{ bearer: [] }];
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
        res.json(await miner.status());
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
  ];
}
