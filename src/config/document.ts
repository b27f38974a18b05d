import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * An operator's document (the routes file, the legacy service's OpenAPI document): JSON, or YAML
 * by its `.yaml`/`.yml` name; YAML's parser is loaded only for a YAML file. The parsed document,
 * or what stops it from being read.
 */
export function readDocument(file: string, maxChars?: number): { doc: unknown } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: (err as Error).message };
  }
  if (maxChars !== undefined && text.length > maxChars) return { problem: `over ${maxChars} bytes` };
  const yaml = /\.ya?ml$/i.test(file);
  try {
    return {
      doc: yaml
        ? (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text)
        : JSON.parse(text),
    };
  } catch (err) {
    return { problem: `not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message}` };
  }
}
