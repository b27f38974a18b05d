import type { NextFunction, Request, Response } from 'express';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { authenticate, caller, requireScope, type TokenVerifier } from '../../http/auth.ts';
import { type RouteRequest, type RouteSpec, route } from '../../http/route-spec.ts';
import type { StreamQuota } from '../../http/stream-quota.ts';
import type { Logger } from '../../log.ts';
import type { EventsService } from '../events/index.ts';
import type { ProjectsService } from './projects.service.ts';
import { serveEventStream } from './sse.stream.ts';

export interface SseDeps {
  events: EventsService;
  projects: ProjectsService;
  tokens: TokenVerifier;
  streams: StreamQuota;
  config: Config;
  log: Logger;
}

const EVENT_ID = /^\d{1,15}$/;

/**
 * Browsers' EventSource cannot send headers: it may carry the access token as `?access_token=`
 * (never logged: the request log redacts it). A header, when present, wins.
 */
/** The stream's query: a resume position and, for EventSource, the access token. */
interface EventStreamQuery {
  lastEventId?: string;
  access_token?: string;
}

function tokenFromQuery(req: Request, _res: Response, next: NextFunction): void {
  const token = req.query.access_token;
  if (req.headers.authorization === undefined && typeof token === 'string') {
    req.headers.authorization = `Bearer ${token}`;
  }
  next();
}

function lastEventId(req: RouteRequest<EventStreamQuery>): number | undefined {
  const header = req.headers['last-event-id'];
  const query = req.query.lastEventId;
  const raw =
    typeof header === 'string' && header !== '' ? header : typeof query === 'string' ? query : undefined;
  if (raw === undefined || raw === '') return undefined;
  if (!EVENT_ID.test(raw.trim())) {
    throw new AppError('VALIDATION_FAILED', {
      detail: 'header Last-Event-ID: must be an event id this stream sent',
      extensions: {
        errors: [{ in: 'header', path: '/Last-Event-ID', message: 'must be an event id this stream sent' }],
      },
    });
  }
  return Number(raw.trim());
}

export function sseRoutes({ events, projects, tokens, streams, config, log }: SseDeps): RouteSpec[] {
  return [
    route<EventStreamQuery>({
      method: 'get',
      path: '/api/sse/projects/{id}',
      operationId: 'streamProjectEvents',
      summary:
        'Server-sent events of a project (file.changed, workflow.*); Last-Event-ID replays what the client missed',
      tags: ['projects'],
      security: [{ bearer: [] }],
      before: [tokenFromQuery, authenticate(tokens), requireScope('projects:read')],
      parameters: [
        { name: 'id', in: 'path', schema: { type: 'string', format: 'uuid' } },
        {
          name: 'Last-Event-ID',
          in: 'header',
          description: 'The id of the last event received; the stream resumes after it',
          schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
        },
        {
          name: 'lastEventId',
          in: 'query',
          description: 'Last-Event-ID for clients that cannot set headers',
          schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
        },
        {
          name: 'access_token',
          in: 'query',
          description: 'The access token, for EventSource (which cannot send Authorization)',
          schema: { type: 'string', maxLength: 4096 },
        },
      ],
      responses: {
        200: {
          description:
            '`text/event-stream`: `id` is the per-project sequence number, `event` the type, `data` JSON; a `: heartbeat` comment every SSE_HEARTBEAT_MS; `stream.reset` when events cannot be replayed',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
      },
      handler: async (req, res) => {
        const projectId = String(req.params.id);
        const after = lastEventId(req);
        const user = caller(req);
        await projects.getOwned(user.id, projectId);
        if (req.method === 'HEAD') {
          // express serves HEAD from GET routes; a stream with no body would never end.
          res.status(200).type('text/event-stream; charset=utf-8').end();
          return;
        }
        const release = streams.acquire(user.id);
        try {
          await serveEventStream(req, res, {
            events,
            projectId,
            lastEventId: after,
            heartbeatMs: config.SSE_HEARTBEAT_MS,
            retryMs: config.SSE_RETRY_MS,
            maxBufferBytes: config.SSE_MAX_BUFFER_BYTES,
            // The stream may not outlive the token that opened it: the client reconnects with a fresh one.
            endAt: user.expiresAt,
            log,
          });
        } finally {
          release();
        }
      },
    }),
  ];
}
