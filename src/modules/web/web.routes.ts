import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { IRouter, Request, RequestHandler, Response } from 'express';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../log.ts';

interface Asset {
  type: string;
  etag: string;
  identity: Buffer;
  br: Buffer | undefined;
  gzip: Buffer | undefined;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function load(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const read = (file: string) => (existsSync(file) ? readFileSync(file) : undefined);
    const identity = readFileSync(path.join(dir, name));
    assets.set(name, {
      type,
      etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`,
      identity,
      br: read(path.join(dir, `${name}.br`)),
      gzip: read(path.join(dir, `${name}.gz`)),
    });
  }
  return assets;
}

/**
 * The dashboard page at `/`, served from memory: hashed assets under /assets with a year of
 * immutable caching, index.html revalidated every time, each in the precompressed encoding the
 * client accepts (so the compression middleware leaves them alone).
 */
export function mountWeb(
  router: IRouter,
  dir: string,
  log: Logger,
  pageHeaders: RequestHandler,
): { method: 'get'; path: string }[] {
  const assets = existsSync(dir) ? load(dir) : new Map<string, Asset>();
  if (!assets.has('index.html')) log.warn({ dir }, 'dashboard page not built; / answers 404');

  const send = (req: Request, res: Response, name: string, cache: string) => {
    const asset = assets.get(name);
    if (!asset) throw new AppError('NOT_FOUND', { detail: `No route for ${req.method} ${req.path}` });
    res.set({
      'Content-Type': asset.type,
      'Cache-Control': cache,
      ETag: asset.etag,
      Vary: 'Accept-Encoding',
    });
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    const accepted = req.acceptsEncodings('br', 'gzip', 'identity');
    const encoding =
      accepted === 'br' && asset.br ? 'br' : accepted === 'gzip' && asset.gzip ? 'gzip' : undefined;
    const body = encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : asset.identity;
    if (encoding) res.set('Content-Encoding', encoding);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  router.get('/', pageHeaders, (req, res) => send(req, res, 'index.html', 'no-cache'));
  router.get('/assets/:name', pageHeaders, (req, res) =>
    send(req, res, String(req.params.name), 'public, max-age=31536000, immutable'),
  );
  return [
    { method: 'get', path: '/' },
    { method: 'get', path: '/assets/:name' },
  ];
}
