import type { IncomingHttpHeaders } from 'node:http';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { jsonContent, type RouteSpec } from '../../http/route-spec.ts';

/** A dependency's state as its owner reports it: `ok` for everyone, the rest for admins only. */
export interface DependencyCheck {
  ok: boolean;
  latencyMs?: number;
  error?: string;
}

export interface HealthDeps {
  db: Database;
  version: string;
  worker: string;
  draining: () => boolean;
  /** Extra readiness checks contributed by other modules (e.g. circuit breakers). */
  details?: () => Record<string, unknown>;
  /**
   * Dependencies reported on without making the worker unready (the blockchain node: ferrite
   * still serves without it), by the name they take in `checks`. Each answers promptly.
   */
  dependencies?: Record<string, () => Promise<DependencyCheck>>;
  /**
   * Whether this caller may see the details (upstream names, breaker counts, latencies, the
   * database's error): an admin token. Everyone else learns only ready or not, and which of the
   * worker's own checks failed.
   */
  mayInspect?: (req: { headers: IncomingHttpHeaders }) => boolean;
}

export function healthRoutes(deps: HealthDeps): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api/health',
      operationId: 'getHealth',
      summary: 'Liveness: the worker answers; no database access',
      tags: ['health'],
      responses: {
        200: {
          description: 'The worker is alive',
          content: jsonContent({
            type: 'object',
            required: ['status', 'version', 'uptimeSeconds', 'worker'],
            properties: {
              status: { const: 'ok' },
              version: { type: 'string' },
              uptimeSeconds: { type: 'number' },
              worker: { type: 'string' },
            },
          }),
        },
      },
      handler: (_req, res) => {
        res.json({
          status: 'ok',
          version: deps.version,
          uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
          worker: deps.worker,
        });
      },
    },
    {
      method: 'get',
      path: '/api/ready',
      operationId: 'getReady',
      summary:
        'Readiness: Postgres answers and the worker is not draining; whether the node answers (never unready for it); details (upstreams, latencies, errors) only with an admin token',
      tags: ['health'],
      responses: {
        200: {
          description: 'Ready to serve',
          content: jsonContent({
            type: 'object',
            required: ['status', 'worker', 'checks'],
            properties: {
              status: { const: 'ready' },
              worker: { type: 'string' },
              checks: {
                type: 'object',
                properties: {
                  node: {
                    type: 'object',
                    description:
                      'Whether the blockchain node answers JSON-RPC (when NODE_RPC_URL is set); never makes the worker unready',
                    required: ['ok'],
                    properties: {
                      ok: { type: 'boolean' },
                      latencyMs: { type: 'number' },
                      error: { type: 'string' },
                    },
                  },
                },
              },
            },
          }),
        },
        503: { description: 'Not ready: a problem document with the failed checks in `checks`' },
      },
      handler: async (req, res) => {
        const inspect = deps.mayInspect?.(req) ?? false;
        const checks: Record<string, unknown> = inspect ? { ...deps.details?.() } : {};
        let ok = true;
        // Asked alongside the database; awaited below, so none may reject unhandled meanwhile.
        const reported = Object.entries(deps.dependencies ?? {}).map(async ([name, check]) => {
          const result: DependencyCheck = await check().catch((err: Error) => ({
            ok: false,
            error: err.message,
          }));
          return [name, result] as const;
        });
        const started = performance.now();
        try {
          await deps.db.check();
          const latencyMs = Math.round((performance.now() - started) * 100) / 100;
          checks.database = inspect ? { ok: true, latencyMs } : { ok: true };
        } catch (err) {
          // Every pooled client in use: the database answers, this worker is only busy. Taking it
          // out of rotation for that would move its load onto the others (issue 11).
          if (err instanceof AppError && err.code === 'DATABASE_BUSY') {
            checks.database = { ok: true, busy: true };
          } else {
            ok = false;
            checks.database = inspect ? { ok: false, error: (err as Error).message } : { ok: false };
          }
        }
        for (const [name, result] of await Promise.all(reported)) {
          checks[name] = inspect ? result : { ok: result.ok };
        }
        const draining = deps.draining();
        checks.draining = draining;
        if (draining) {
          throw new AppError('SHUTTING_DOWN', {
            detail: 'This worker is draining.',
            headers: { 'Retry-After': '1' },
            extensions: { checks },
          });
        }
        if (!ok) {
          const err = deps.db.unavailable();
          throw new AppError('DATABASE_UNAVAILABLE', {
            detail: err.message,
            headers: err.headers,
            extensions: { checks },
          });
        }
        res.json({ status: 'ready', worker: deps.worker, checks });
      },
    },
  ];
}
