// How environment strings become typed values. Every key of the schema is built from these, so a
// kind of value (a port, a list, a switch) is parsed, bounded and documented the same way everywhere.
import { z } from 'zod';

declare module 'zod' {
  interface GlobalMeta {
    /** What the key accepts, for docs/configuration.md where the JSON Schema says it poorly. */
    values?: string;
    /** The default as docs/configuration.md shows it, where the value depends on the host. */
    defaultText?: string;
  }
}

/**
 * A listener's port: null when `off` or `0` switch it off; 0 for `any`, a port the OS chooses,
 * which the "ferrite ready" log line reports (how tests start the service without racing for a
 * free port).
 */
export const port = (fallback: number) =>
  z
    .union([z.literal('off'), z.literal('any'), z.coerce.number().int().min(0).max(65535)])
    .default(fallback)
    .transform((v) => (v === 'off' || v === 0 ? null : v === 'any' ? 0 : v));

export const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .meta({ values: '`true`, `false`, `1`, `0`, `yes`, `no`' });

/** Unset and empty both mean "not configured". */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

export const optionalUrl = (protocol: RegExp, values: string) =>
  optionalString.pipe(z.url({ protocol }).optional()).meta({ values });

export const splitList = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** A comma-separated list: items trimmed, empty ones dropped. Consumers get the array. */
export const list = (fallback = '') =>
  z.string().default(fallback).transform(splitList).meta({ values: 'comma-separated list' });

/** A comma-separated list whose every item must be one of `options`; `problem` names a bad one. */
export const listOf = <const T extends readonly [string, ...string[]]>(
  fallback: string,
  options: T,
  { problem = (item: string) => `unknown value ${item}`, normalise = (item: string) => item } = {},
) =>
  z
    .string()
    .default(fallback)
    .transform((value) => splitList(value).map(normalise))
    .pipe(z.array(z.enum(options, { error: (issue) => problem(String(issue.input)) })))
    .meta({ values: `comma-separated, each one of ${options.map((o) => `\`${o}\``).join(', ')}` });

/** Words separated by white space, e.g. a command's arguments. */
export const words = (fallback = '') =>
  z
    .string()
    .default(fallback)
    .transform((value) => value.split(/\s+/).filter(Boolean))
    .meta({ values: 'words separated by spaces' });

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Parses an environment against a schema; every bad key is reported together, by its name alone
 * (a bad list item's message names the item, not its position).
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
}
