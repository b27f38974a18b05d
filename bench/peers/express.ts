// The "express" peer of `bench:compare`: a plain express 5 cluster (node:cluster, one worker per
// core unless WORKERS says otherwise) answering the compare scenarios with the minimal work each
// needs, and the response headers ferrite sends, set by hand. It is what ferrite's per-request
// cost is read against: express and Node without ferrite's middleware.
//
// Every answer carries X-Request-Id (a fresh UUID), ferrite's API security headers, Vary:
// Accept-Encoding and an ETag (express's `etag fn`, XXH64 as in ferrite); Keep-Alive matches
// ferrite's 75 s. Routes:
//   GET /api/health             the same JSON shape as ferrite's
//   GET /api/stats              verifies the HS256 bearer token (signature, alg, iss, aud, exp,
//                               scope; node:crypto, as the Go peer does) and answers the snapshot
//                               bytes read once from STATS_FILE, with a precomputed ETag,
//                               `Cache-Control: no-cache` and 304 on a matching If-None-Match;
//                               401 problem+json without a valid token
//   GET /api/blocks/validated   the same keyset query as ferrite against DATABASE_URL (pg pool
//                               of PG_POOL_SIZE per worker), same item shape and cursor
//   anything else               404 problem+json
import cluster from 'node:cluster';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { xxh64 } from '@node-rs/xxhash';
import express, { type NextFunction, type Request, type Response } from 'express';
import pg from 'pg';

const port = Number(process.env.PORT ?? 0);

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS ?? availableParallelism());
  for (let i = 0; i < n; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const worker = String(cluster.worker?.id ?? 1);
  const secret = Buffer.from(process.env.JWT_SECRET ?? '');
  const strongEtag = (body: string | Buffer) =>
    `"${xxh64(typeof body === 'string' ? Buffer.from(body) : body)
      .toString(16)
      .padStart(16, '0')}"`;
  const statsBody = readFileSync(process.env.STATS_FILE ?? '/dev/null');
  const statsEtag = strongEtag(statsBody);
  const pool = process.env.DATABASE_URL
    ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.PG_POOL_SIZE ?? 10) })
    : undefined;

  const problem = (
    req: Request,
    res: Response,
    status: number,
    code: string,
    title: string,
    detail: string,
  ) => {
    // As ferrite sends problems: no ETag (a problem document is not revalidated).
    const body = JSON.stringify({
      type: `https://ferrite.dev/problems/${code}`,
      title,
      status,
      code,
      detail,
      instance: req.path,
      requestId: res.getHeader('X-Request-Id'),
    });
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };

  /** ferrite's access token check, minimal: HS256 signature, then iss, aud, exp and a reader scope. */
  const verify = (token: string): boolean => {
    const parts = token.split('.');
    if (parts.length !== 3) return false;
    const [head, body, sig] = parts as [string, string, string];
    if (!Buffer.from(head, 'base64url').toString().includes('"alg":"HS256"')) return false;
    const mac = createHmac('sha256', secret).update(`${head}.${body}`).digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) return false;
    let c: { iss?: string; aud?: string; exp?: number; scope?: string };
    try {
      c = JSON.parse(Buffer.from(body, 'base64url').toString());
    } catch {
      return false;
    }
    if (c.iss !== 'ferrite' || c.aud !== 'ferrite' || (c.exp ?? 0) < Date.now() / 1000 - 30) return false;
    return (c.scope ?? '').split(' ').some((s) => s === 'miner:read' || s === 'admin');
  };
  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && verify(auth.slice(7))) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="ferrite", error="invalid_token"');
    problem(
      req,
      res,
      401,
      'UNAUTHORIZED',
      'Authentication required',
      'Send an access token as "Authorization: Bearer <token>".',
    );
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('etag', (body: string | Buffer) => strongEtag(body));
  app.use((_req, res, next) => {
    res.setHeader('X-Request-Id', randomUUID());
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Vary', 'Accept-Encoding');
    next();
  });
  app.get('/api/health', (_req, res) => {
    res.json({
      status: 'ok',
      version: '0.1.0',
      uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
      worker,
    });
  });
  app.get('/api/stats', authenticate, (req, res) => {
    res.set('ETag', statsEtag).set('Cache-Control', 'no-cache');
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    res.type('application/json').send(statsBody);
  });
  app.get('/api/blocks/validated', authenticate, async (req, res, next) => {
    try {
      if (!pool) throw new Error('no DATABASE_URL');
      const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
      const { rows } = await pool.query(
        `SELECT height, hash, difficulty, found_at, validated_at FROM blocks
         WHERE validated_at IS NOT NULL ORDER BY height DESC, hash DESC LIMIT $1`,
        [limit + 1],
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      res.set('Cache-Control', 'no-store').json({
        items: page.map((r) => ({
          height: Number(r.height),
          hash: r.hash,
          foundAt: r.found_at.toISOString(),
          validatedAt: r.validated_at.toISOString(),
          difficulty: r.difficulty === null ? null : Number(r.difficulty),
        })),
        nextCursor:
          rows.length > limit && last
            ? Buffer.from(JSON.stringify([String(last.height), last.hash])).toString('base64url')
            : null,
      });
    } catch (err) {
      next(err);
    }
  });
  app.use((req, res) => {
    problem(req, res, 404, 'NOT_FOUND', 'Not found', `No route for ${req.method} ${req.path}`);
  });
  const server = app.listen(port, '127.0.0.1');
  server.keepAliveTimeout = 75_000;
}
