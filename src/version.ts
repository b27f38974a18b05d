import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
  license: string;
};

export const version: string = pkg.version;
/** The package's license, an SPDX identifier, named in the OpenAPI document. */
export const license: string = pkg.license;
