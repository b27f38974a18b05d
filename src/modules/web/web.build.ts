import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export const WEB_SOURCE = path.resolve(import.meta.dirname, '../../../web');
/** uPlot, the charting library, served from ferrite like the page's own files. */
const UPLOT = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

/** What the page needs to know of the configuration, written into index.html at build time. */
export interface PageSettings {
  /** Alert while a GPU is at or above this temperature (°C). */
  gpuTempAlertC: number;
  /** Alert while the hashrate is below this fraction of its 15-minute average. */
  hashrateAlertRatio: number;
}

/** The page's assets: name in index.html → where it is read from. */
const ASSETS: [string, (source: string) => string][] = [
  ['uplot.css', () => path.join(UPLOT, 'uPlot.min.css')],
  ['style.css', (source) => path.join(source, 'style.css')],
  ['uplot.js', () => path.join(UPLOT, 'uPlot.iife.min.js')],
  ['app.js', (source) => path.join(source, 'app.js')],
];

const escapeAttribute = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

/** Where the built page lives: under DATA_DIR, so a read-only install still works. */
export function webDir(dataDir: string): string {
  return path.join(dataDir, 'web');
}

/** Names the inputs a built page came from (index.html names every asset by its hash). */
const BUILD_ID = 'build-id';

/**
 * Builds the dashboard page at start, in the start-up helper: assets get content-hashed names (so
 * they can be cached for a year), index.html points at them and carries the settings, and every
 * file is precompressed with brotli and gzip next to itself. Workers only read the result. The
 * compression is most of the cost (~200 ms, uPlot at brotli 11), so a page already built from
 * the same files and settings is kept as it is.
 */
export async function buildWeb(dataDir: string, settings: PageSettings, source = WEB_SOURCE): Promise<void> {
  const out = webDir(dataDir);
  let html = await readFile(path.join(source, 'index.html'), 'utf8');
  html = html.replace(
    '<meta name="ferrite-settings" content="{}">',
    `<meta name="ferrite-settings" content="${escapeAttribute(JSON.stringify(settings))}">`,
  );
  const files = new Map<string, Buffer>();
  for (const [asset, from] of ASSETS) {
    const body = await readFile(from(source));
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
    const ext = path.extname(asset);
    const hashed = `${path.basename(asset, ext)}.${hash}${ext}`;
    html = html.replace(`/assets/${asset}`, `/assets/${hashed}`);
    files.set(hashed, body);
  }
  files.set('index.html', Buffer.from(html));
  const id = createHash('sha256').update(html).digest('hex');
  const built = await readFile(path.join(out, BUILD_ID), 'utf8').catch(() => undefined);
  if (built === id) return;

  const staging = `${out}.${process.pid}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const [name, body] of files) {
    await writeFile(path.join(staging, name), body);
    await writeFile(
      path.join(staging, `${name}.br`),
      await brotli(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }),
    );
    await writeFile(path.join(staging, `${name}.gz`), await gzip(body, { level: 9 }));
  }
  // Written last: a build cut short leaves no id, so the next start builds again.
  await writeFile(path.join(staging, BUILD_ID), id);
  await rm(out, { recursive: true, force: true });
  await rename(staging, out);
}
