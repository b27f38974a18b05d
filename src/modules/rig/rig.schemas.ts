import type { ParameterSpec } from '../../http/route-spec.ts';

/** OpenAPI schemas of the rig endpoints. */

export const minerStatus = {
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

/** Shares the miner reported, counted since it started (a restart counts from zero again). */
const shareCounts = {
  type: 'object',
  required: ['accepted', 'rejected', 'stale'],
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    stale: { type: 'integer' },
  },
};

export const stats = {
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
    shares: shareCounts,
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

export const blockPage = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['height', 'hash', 'foundAt', 'validatedAt', 'difficulty'],
        properties: {
          height: { type: 'integer' },
          hash: { type: 'string' },
          foundAt: { type: 'string', format: 'date-time' },
          validatedAt: { type: 'string', format: 'date-time' },
          difficulty: { type: ['number', 'null'] },
        },
      },
    },
    nextCursor: { type: ['string', 'null'] },
  },
};

const dateTime = { type: 'string', format: 'date-time' };

/** `GET /api/stats/history`: the series, and the marks the dashboard draws on it. */
export const statsHistory = {
  type: 'object',
  required: ['from', 'to', 'step', 'points', 'events', 'blocks'],
  properties: {
    from: dateTime,
    to: dateTime,
    step: { type: 'integer' },
    points: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'hashrate', 'shares', 'gpus'],
        properties: {
          at: dateTime,
          hashrate: { type: 'number' },
          shares: shareCounts,
          gpus: {
            type: 'array',
            description: "Each GPU index's averages over the bucket's samples, by index",
            items: {
              type: 'object',
              required: ['index', 'hashrate', 'temperatureC'],
              properties: {
                index: { type: 'integer' },
                hashrate: { type: 'number', description: 'H/s, rounded' },
                temperatureC: { type: 'number', description: 'to a tenth of a degree' },
              },
            },
          },
        },
      },
    },
    events: {
      type: 'array',
      description:
        'State changes of the miner in [from, to), oldest first; the newest 1000 when there are more',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['at', 'state', 'restarts', 'exit'],
        properties: {
          at: dateTime,
          state: { type: 'string' },
          restarts: { type: 'integer' },
          exit: {
            type: ['object', 'null'],
            description: 'How the miner last exited, on `crashed` and `stopped`; otherwise null',
            required: ['code', 'signal'],
            properties: {
              code: { type: ['integer', 'null'] },
              signal: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    blocks: {
      type: 'array',
      description:
        'Blocks found in [from, to), validated or not, oldest first; the newest 1000 when there are more',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['height', 'hash', 'foundAt', 'validatedAt'],
        properties: {
          height: { type: 'integer' },
          hash: { type: 'string' },
          foundAt: dateTime,
          validatedAt: { type: ['string', 'null'], format: 'date-time' },
        },
      },
    },
  },
};

export const formatParam = {
  name: 'format',
  in: 'query' as const,
  schema: { enum: ['csv', 'ndjson'], default: 'csv' },
};

export const exportResponses = {
  200: {
    description: 'A streamed attachment, compressed on the wire',
    content: {
      'text/csv': { schema: { type: 'string' } },
      'application/x-ndjson': { schema: { type: 'string' } },
    },
  },
};

/** A time range in the query: `from` inclusive, `to` exclusive, both optional. */
export const rangeParams: ParameterSpec[] = [
  { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' } },
  { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' } },
];
