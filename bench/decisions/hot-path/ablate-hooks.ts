// Module hooks for the hot-path ablation (issue 12): with ABLATE=piece[,piece…] in the
// environment, the service's own source is edited as it loads, so that one piece of per-request
// work is gone and everything else is as shipped. Nothing in src/ knows about it.
//
//   node --import ./bench/decisions/hot-path/ablate.ts src/main.js
//
// Each edit names the text it replaces; when the source no longer holds that text, the service
// refuses to start (an ablation that silently removed nothing would measure nothing).
import type { LoadHook } from 'node:module';

interface Edit {
  file: string;
  find: RegExp;
  replace: string;
}

/** What each piece is, as edits to the shipped source. */
export const PIECES: Record<string, { what: string; edits: Edit[] }> = {
  log: {
    what: 'the request log line (pino, one JSON line per request; written by LineBatch since 9604c6c)',
    edits: [{ file: 'src/http/context.ts', find: /if \(log\.isLevelEnabled\('info'\)\)/, replace: 'if (false)' }],
  },
  metrics: {
    what: 'request metrics (histogram and counter per request)',
    edits: [{ file: 'src/http/context.ts', find: /metrics\.observeRequest\([^;]*\);/, replace: '' }],
  },
  context: {
    what: 'the whole request context: id, trace, log line, metrics, its close listener',
    edits: [
      {
        file: 'src/app.ts',
        find: /app\.use\(requestContext\(deps\.log, deps\.metrics\)\);/,
        replace: `app.use((req, _res, next) => { req.id = '-'; req.trace = { traceId: '-', spanId: '-', parentId: undefined, flags: '01' }; (req as unknown as { _rootLog: unknown })._rootLog = deps.log; next(); });`,
      },
    ],
  },
  'id-trace': {
    what: 'the request id (UUID) and W3C trace context (random ids)',
    edits: [
      {
        file: 'src/http/context.ts',
        find: /req\.id = typeof incoming[^;]*;/,
        replace: `req.id = 'fixed-id';`,
      },
      {
        file: 'src/http/context.ts',
        find: /req\.trace = parseTraceparent\([^;]*;/,
        replace: `req.trace = FIXED_TRACE;`,
      },
      {
        file: 'src/http/context.ts',
        find: /export function requestContext/,
        replace: `const FIXED_TRACE = { traceId: '0af7651916cd43dd8448eb211c80319c', parentId: undefined, spanId: 'b7ad6b7169203331', flags: '01' };\nexport function requestContext`,
      },
    ],
  },
  headers: {
    what: 'the API security headers (4 setHeader calls)',
    edits: [{ file: 'src/app.ts', find: /app\.use\(apiHeaders\(\)\);/, replace: '' }],
  },
  compression: {
    what: 'compression (no response here is large enough to compress; since 9abd8c9 it is set up at the first write, and small whole bodies skip it)',
    edits: [{ file: 'src/app.ts', find: /enableCompression\(app, \{[\s\S]*?\n {2}\}\);/, replace: '' }],
  },
  etag: {
    what: 'the ETag (XXH64 of every JSON body) and its freshness check',
    edits: [{ file: 'src/app.ts', find: /app\.set\('etag', \(body[^;]*;/, replace: `app.set('etag', false);` }],
  },
  gateway: {
    what: "the gateway's prefix check on every request",
    edits: [{ file: 'src/app.ts', find: /app\.use\(gateway\.routes\);/, replace: '' }],
  },
  validation: {
    what: 'request validation (ajv, text checks) on the route',
    edits: [
      {
        file: 'src/http/routes.ts',
        find: /router\[spec\.method\]\(path, \.\.\.join, \.\.\.\(spec\.before \?\? \[\]\), validate, handler\);/,
        replace: 'void validate; router[spec.method](path, ...join, ...(spec.before ?? []), handler);',
      },
    ],
  },
  auth: {
    what: 'bearer-token authentication (a cached verification after the first request)',
    edits: [
      {
        file: 'src/modules/auth/auth.tokens.ts',
        find: /req\.user = tokens\.verify\(token\);/,
        replace: `req.user = (tokens as unknown as { _fixed?: typeof req.user })._fixed ??= tokens.verify(token);`,
      },
    ],
  },
};

const root = new URL('../../../', import.meta.url).href;
const chosen = (process.env.ABLATE ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter(Boolean);
for (const p of chosen) {
  if (!PIECES[p]) throw new Error(`ABLATE: unknown piece "${p}" (${Object.keys(PIECES).join(', ')})`);
}
const edits = chosen.flatMap((p) => PIECES[p]?.edits ?? []);

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  const mine = edits.filter((e) => url === `${root}${e.file}`);
  if (mine.length === 0 || result.source === undefined) return result;
  let source = String(result.source);
  for (const e of mine) {
    if (!e.find.test(source)) throw new Error(`ABLATE: ${e.file} no longer holds ${e.find}`);
    source = source.replace(e.find, e.replace);
  }
  return { ...result, source };
};
