// The dashboard page's build (src/modules/web/web.build.ts): hashed, precompressed assets with the
// settings written into index.html, built again only when its files or settings change.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { buildWeb } from '../src/modules/web/index.ts';
import { WEB_SOURCE } from '../src/modules/web/web.build.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const temp = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'ferrite-web-'));
  dirs.push(d);
  return d;
};
const settings = { gpuTempAlertC: 85, hashrateAlertRatio: 0.8 };

describe('building the dashboard page', () => {
  it('hashes and precompresses every asset and writes the settings into index.html', async () => {
    const data = await temp();
    await buildWeb(data, { gpuTempAlertC: 77, hashrateAlertRatio: 0.5 });
    const names = (await readdir(path.join(data, 'web'))).sort();
    for (const asset of ['app', 'style', 'uplot']) {
      assert.ok(
        names.some((n) =>
          new RegExp(`^${asset}\\.[0-9a-f]{12}\\.js\\.br$|^${asset}\\.[0-9a-f]{12}\\.css\\.br$`).test(n),
        ),
        asset,
      );
    }
    const html = await readFile(path.join(data, 'web/index.html'), 'utf8');
    assert.match(
      html,
      /<meta name="ferrite-settings" content="\{&quot;gpuTempAlertC&quot;:77,&quot;hashrateAlertRatio&quot;:0\.5\}">/,
    );
    const br = await readFile(path.join(data, 'web/index.html.br'));
    assert.equal(zlib.brotliDecompressSync(br).toString('utf8'), html);
  });

  it('keeps a page built from the same files and settings, and builds again when either changes', async () => {
    const data = await temp();
    const source = await temp();
    await cp(WEB_SOURCE, source, { recursive: true });
    await buildWeb(data, settings, source);
    const index = path.join(data, 'web/index.html.br');
    const first = (await stat(index)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await buildWeb(data, settings, source);
    assert.equal((await stat(index)).mtimeMs, first, 'nothing rebuilt');

    await buildWeb(data, { ...settings, gpuTempAlertC: 90 }, source);
    assert.match(await readFile(path.join(data, 'web/index.html'), 'utf8'), /gpuTempAlertC&quot;:90/);

    await writeFile(
      path.join(source, 'style.css'),
      `${await readFile(path.join(source, 'style.css'), 'utf8')}\n/* changed */\n`,
    );
    await buildWeb(data, { ...settings, gpuTempAlertC: 90 }, source);
    const css = (await readdir(path.join(data, 'web'))).filter((n) => /^style\.[0-9a-f]{12}\.css$/.test(n));
    assert.equal(css.length, 1);
    assert.match(await readFile(path.join(data, 'web', css[0] as string), 'utf8'), /\/\* changed \*\//);
  });
});
