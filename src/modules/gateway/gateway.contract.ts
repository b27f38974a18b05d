// The existing service's contract (issue 15): its OpenAPI document (LEGACY_OPENAPI_FILE, 3.0 or
// 3.1, JSON or YAML). Requests on the gateway's and the legacy routes are checked against it
// before they are forwarded; the shadow and the replay check answers against it; and its
// operations join ferrite's own in /api/openapi.json, so clients see one API while it moves.
import v8 from 'node:v8';
import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { readDocument } from '../../config/document.ts';
import { lengthFirst } from '../../http/schema-guard.ts';
import { type Violation, violations } from '../../http/validation.ts';
import { header, isJson } from './gateway.answers.ts';

type Json = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** A pattern the linear-time engine cannot run (lookaround, backreference) runs on at most this. */
const NONLINEAR_PATTERN_MAX_LENGTH = 1000;
/** OpenAPI leaves these to the HTTP layer: declared as parameters, they are not checked. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const SCHEMAS_ID = 'ferrite:legacy-contract';

export class ContractFileError extends Error {
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ContractFileError';
  }
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Json;
}

interface Operation {
  method: string;
  /** The OpenAPI path, `/users/{id}`. */
  template: string;
  matcher: RegExp;
  names: string[];
  parameters: Parameter[];
  /** Media range (`application/json`, `image/*`) → its schema, if any. */
  body: { required: boolean; content: Map<string, Json | undefined> } | undefined;
  responses: Json;
  checks?: { path?: ValidateFunction; query?: ValidateFunction; header?: ValidateFunction };
  bodyChecks: Map<string, ValidateFunction>;
  answerChecks: Map<string, ValidateFunction>;
}

export interface ContractMatch {
  op: Operation;
  params: Record<string, string>;
}

/** The document as /api/openapi.json merges it: operations and components, in OpenAPI 3.1. */
export interface ContractDescription {
  paths: Record<string, Record<string, Json>>;
  schemas: Json;
  securitySchemes: Json;
}

const pointer = (ref: string) =>
  ref
    .slice(2)
    .split('/')
    .map((p) => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'));

const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'example', 'examples']);

/**
 * A schema in OpenAPI 3.1's JSON Schema: 3.0's `nullable` and boolean exclusive bounds
 * rewritten; `$ref`s to `#/components/schemas/…` pointed at `refBase` when given.
 */
function toSchema(node: unknown, v30: boolean, refBase: string | undefined): unknown {
  if (Array.isArray(node)) return node.map((n) => toSchema(n, v30, refBase));
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = DATA_KEYWORDS.has(key) ? value : toSchema(value, v30, refBase);
  }
  if (typeof out.$ref === 'string' && refBase && out.$ref.startsWith('#/')) out.$ref = refBase + out.$ref;
  if (v30) {
    if (out.nullable === true) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    }
    delete out.nullable;
    for (const [flag, bound] of [
      ['exclusiveMinimum', 'minimum'],
      ['exclusiveMaximum', 'maximum'],
    ] as const) {
      if (out[flag] === true && typeof out[bound] === 'number') {
        out[flag] = out[bound];
        delete out[bound];
      } else if (typeof out[flag] === 'boolean') delete out[flag];
    }
  }
  return out;
}

let linearEngine = false;
/**
 * A RegExp that runs in linear time where V8's linear engine can run it; else one that runs only
 * on strings up to NONLINEAR_PATTERN_MAX_LENGTH. The linear engine has no unicode mode, so a
 * pattern that means the same without it (no `\u{…}`, no `\p{…}`) runs there without `u`.
 */
function safeRegExp(pattern: string, flags: string): { test(s: string): boolean; toString(): string } {
  if (!linearEngine) {
    // Only lets `new RegExp(…, 'l')` parse; every other RegExp is unchanged.
    v8.setFlagsFromString('--enable-experimental-regexp-engine');
    linearEngine = true;
  }
  if (!/\\[pP]\{|\\u\{/.test(pattern)) {
    try {
      return new RegExp(pattern, `${flags.replace('u', '')}l`);
    } catch {
      // lookaround or a backreference: not linear
    }
  }
  if (nestedQuantifier(pattern)) {
    throw new Error(
      `the pattern ${JSON.stringify(pattern)} repeats a repetition and cannot run in linear time (a lookaround or backreference): a request could hold a worker for minutes; rewrite it`,
    );
  }
  const re = new RegExp(pattern, flags);
  return {
    test: (s: string) => s.length <= NONLINEAR_PATTERN_MAX_LENGTH && re.test(s),
    // ajv caches patterns by this text.
    toString: () => `${re} (bounded)`,
  };
}

/**
 * Whether a quantified group holds a quantifier itself (`(a+)+`, `(\\w*\\s?)*`): the star
 * height that makes a backtracking engine exponential on a near match.
 */
export function nestedQuantifier(pattern: string): boolean {
  const groups: boolean[] = []; // per open group: holds a quantifier
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') groups.push(false);
    else if (c === ')') {
      const held = groups.pop() ?? false;
      const next = pattern[i + 1];
      const repeated = next === '*' || next === '+' || next === '{';
      if (held && repeated) return true;
      if (groups.length > 0) groups[groups.length - 1] ||= held || repeated;
    } else if ((c === '*' || c === '+' || c === '{') && groups.length > 0) {
      groups[groups.length - 1] = true;
    }
  }
  return false;
}

function newAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    logger: false,
    coerceTypes: coerce ? 'array' : false,
    // A pattern from the document never backtracks over a client's input (issue 11's ReDoS).
    code: { regExp: safeRegExp as never },
  });
  addFormats.default(ajv);
  // OpenAPI's own formats.
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  for (const f of ['float', 'double']) ajv.addFormat(f, { type: 'number', validate: () => true });
  for (const f of ['byte', 'binary', 'password']) ajv.addFormat(f, () => true);
  return ajv;
}

/** The first declared media range `type` falls in (`application/json`, `application/*`, `*\/*`). */
function mediaRange(declared: Iterable<string>, type: string): string | undefined {
  const [major] = type.split('/');
  let found: string | undefined;
  for (const range of declared) {
    const r = range.toLowerCase().split(';')[0]?.trim() ?? '';
    if (r === type) return range;
    if (r === `${major}/*` || r === '*/*') found ??= range;
  }
  return found;
}

export class Contract {
  readonly description: ContractDescription;
  private readonly byMethod = new Map<string, Operation[]>();
  private readonly coercing = newAjv(true);
  private readonly strict = newAjv(false);

  private constructor(doc: Json) {
    const v30 = String(doc.openapi).startsWith('3.0');
    const components = (doc.components ?? {}) as Json;
    const resolve = (node: unknown, depth = 0): Json => {
      const n = node as Json;
      if (!n || typeof n.$ref !== 'string') return n;
      if (depth > 20) throw new Error(`${n.$ref}: references nest too deep`);
      let target: unknown = doc;
      for (const part of pointer(n.$ref)) target = (target as Json | undefined)?.[part];
      if (target === undefined) throw new Error(`${n.$ref}: no such component`);
      return resolve(target, depth + 1);
    };
    const schemas = (components.schemas ?? {}) as Json;
    const local = (s: unknown) => toSchema(s, v30, undefined) as Json;
    const forAjv = (s: unknown) => lengthFirst(toSchema(s ?? {}, v30, SCHEMAS_ID) as Json);
    const each = (f: (s: unknown) => Json) =>
      Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, f(s)]));
    for (const ajv of [this.coercing, this.strict]) {
      ajv.addSchema({ $id: SCHEMAS_ID, components: { schemas: each(forAjv) } });
    }

    this.description = {
      paths: {},
      schemas: each(local),
      securitySchemes: (components.securitySchemes ?? {}) as Json,
    };
    const rootSecurity = doc.security;
    for (const [template, rawItem] of Object.entries((doc.paths ?? {}) as Json)) {
      const item = resolve(rawItem);
      const shared = ((item.parameters as unknown[]) ?? []).map((p) => resolve(p));
      for (const method of METHODS) {
        const rawOp = item[method] as Json | undefined;
        if (!rawOp) continue;
        const own = ((rawOp.parameters as unknown[]) ?? []).map((p) => resolve(p));
        // An operation's parameter overrides the path item's of the same name and place.
        const all = [...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)), ...own];
        const requestBody = rawOp.requestBody ? resolve(rawOp.requestBody) : undefined;
        const responses: Json = {};
        for (const [status, r] of Object.entries((rawOp.responses ?? {}) as Json)) {
          const response = resolve(r);
          const content: Json = {};
          for (const [type, media] of Object.entries((response.content ?? {}) as Json)) {
            const m = media as Json;
            content[type] = m.schema === undefined ? {} : { schema: local(m.schema) };
          }
          responses[status] = {
            description: response.description ?? '',
            ...(Object.keys(content).length > 0 ? { content } : {}),
          };
        }
        const op: Json = { ...rawOp, responses };
        delete op.parameters;
        const parameters = all.map((p) => ({ ...p, ...(p.schema ? { schema: local(p.schema) } : {}) }));
        if (parameters.length > 0) op.parameters = parameters;
        let body: Json | undefined;
        if (requestBody) {
          const content: Json = {};
          for (const [type, media] of Object.entries((requestBody.content ?? {}) as Json)) {
            const m = media as Json;
            content[type] = m.schema === undefined ? {} : { schema: local(m.schema) };
          }
          body = { ...requestBody, content };
          op.requestBody = body;
        }
        if (op.security === undefined) op.security = rootSecurity ?? [];
        this.description.paths[template] ??= {};
        (this.description.paths[template] as Json)[method] = op;
        this.add(template, method, parameters, body, responses);
      }
    }
    for (const ops of this.byMethod.values()) {
      // Concrete paths before templated ones (OpenAPI's matching rule), then the longer.
      ops.sort((a, b) => a.names.length - b.names.length || b.template.length - a.template.length);
    }
  }

  private add(template: string, method: string, params: Json[], body: Json | undefined, responses: Json) {
    const names: string[] = [];
    const source = template
      .split(/(\{[^{}/]+\})/)
      .map((part) => {
        const name = /^\{([^{}/]+)\}$/.exec(part)?.[1];
        if (name === undefined) return part.replace(/[.*+?^$|()[\]\\{}]/g, '\\$&');
        names.push(name);
        return '([^/]+)';
      })
      .join('');
    const parameters: Parameter[] = [];
    for (const p of params) {
      const where = p.in;
      if (where !== 'path' && where !== 'query' && where !== 'header') continue; // cookies: not checked
      if (where === 'query' && p.style === 'deepObject') continue; // `a[b]=…`: not parsed as such
      const name = where === 'header' ? String(p.name).toLowerCase() : String(p.name);
      if (where === 'header' && IGNORED_HEADERS.has(name)) continue;
      parameters.push({
        name,
        in: where,
        required: where === 'path' || p.required === true,
        schema: (p.schema as Json | undefined) ?? {},
      });
    }
    const content = new Map<string, Json | undefined>();
    for (const [type, media] of Object.entries((body?.content ?? {}) as Json)) {
      content.set(type.toLowerCase(), (media as Json).schema as Json | undefined);
    }
    const op: Operation = {
      method: method.toUpperCase(),
      template,
      matcher: new RegExp(`^${source}$`),
      names,
      parameters,
      body: body ? { required: body.required === true, content } : undefined,
      responses,
      bodyChecks: new Map(),
      answerChecks: new Map(),
    };
    const list = this.byMethod.get(op.method) ?? [];
    list.push(op);
    this.byMethod.set(op.method, list);
  }

  /** Reads and compiles the document; throws ContractFileError naming what is wrong. */
  static load(file: string): Contract {
    const read = readDocument(file, MAX_FILE_BYTES);
    if ('problem' in read) throw new ContractFileError(file, [read.problem]);
    const doc = read.doc;
    const d = doc as Json;
    if (!d || typeof d !== 'object' || typeof d.openapi !== 'string' || !/^3\.[01]\./.test(d.openapi)) {
      throw new ContractFileError(file, ['not an OpenAPI 3.0 or 3.1 document (`openapi: 3.x.y`)']);
    }
    if (!d.paths || typeof d.paths !== 'object') throw new ContractFileError(file, ['it has no `paths`']);
    const external = JSON.stringify(d).match(/"\$ref":"(?!#\/)[^"]*"/);
    if (external) throw new ContractFileError(file, [`only local references (#/…) are read: ${external[0]}`]);
    try {
      const contract = new Contract(d);
      contract.compileAll();
      return contract;
    } catch (err) {
      throw new ContractFileError(file, [(err as Error).message]);
    }
  }

  /** Compiles every validator once, so that a broken schema stops the start, not a request. */
  private compileAll(): void {
    for (const ops of this.byMethod.values()) {
      for (const op of ops) {
        try {
          this.paramChecks(op);
          for (const range of op.body?.content.keys() ?? []) this.bodyCheck(op, range);
          for (const [status, r] of Object.entries(op.responses)) {
            for (const range of Object.keys(((r as Json).content ?? {}) as Json))
              this.answerCheck(op, status, range);
          }
        } catch (err) {
          throw new Error(`${op.method} ${op.template}: ${(err as Error).message}`);
        }
      }
    }
  }

  /** The operation for a request, by method and path (without its query). */
  find(method: string, path: string): ContractMatch | undefined {
    const ops = this.byMethod.get(method) ?? (method === 'HEAD' ? this.byMethod.get('GET') : undefined);
    if (!ops) return undefined;
    for (const op of ops) {
      const m = op.matcher.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      for (let i = 0; i < op.names.length; i++) {
        const raw = m[i + 1] as string;
        let value = raw;
        try {
          value = decodeURIComponent(raw);
        } catch {
          // left as sent; the schema judges it
        }
        params[op.names[i] as string] = value;
      }
      return { op, params };
    }
    return undefined;
  }

  private paramChecks(op: Operation) {
    if (op.checks) return op.checks;
    const group = (where: Parameter['in']) => {
      const ps = op.parameters.filter((p) => p.in === where);
      if (ps.length === 0) return undefined;
      return this.coercing.compile(
        lengthFirst({
          type: 'object',
          properties: Object.fromEntries(ps.map((p) => [p.name, toSchema(p.schema, false, SCHEMAS_ID)])),
          required: ps.filter((p) => p.required).map((p) => p.name),
        }),
      );
    };
    op.checks = { path: group('path'), query: group('query'), header: group('header') };
    return op.checks;
  }

  private bodyCheck(op: Operation, range: string): ValidateFunction | undefined {
    const schema = op.body?.content.get(range);
    if (schema === undefined) return undefined;
    let check = op.bodyChecks.get(range);
    if (!check) {
      check = this.strict.compile(lengthFirst(toSchema(schema, false, SCHEMAS_ID) as Json));
      op.bodyChecks.set(range, check);
    }
    return check;
  }

  private answerCheck(op: Operation, status: string, range: string): ValidateFunction | undefined {
    const media = ((op.responses[status] as Json).content as Json)[range] as Json;
    if (media.schema === undefined) return undefined;
    const key = `${status} ${range}`;
    let check = op.answerChecks.get(key);
    if (!check) {
      check = this.strict.compile(lengthFirst(toSchema(media.schema, false, SCHEMAS_ID) as Json));
      op.answerChecks.set(key, check);
    }
    return check;
  }

  /** What in the request's path, query and headers breaks the operation's parameters. */
  checkParameters(match: ContractMatch, query: Json, headers: Json): Violation[] {
    const checks = this.paramChecks(match.op);
    const found: Violation[] = [];
    const run = (where: Violation['in'], check: ValidateFunction | undefined, values: Json) => {
      if (check && !check({ ...values })) found.push(...violations(where, check.errors));
    };
    run('path', checks.path, match.params);
    run('query', checks.query, query);
    run('header', checks.header, headers);
    return found;
  }

  /**
   * How the operation takes a body of `type`: `json` (parse and check with `check`),
   * `stream` (declared, not JSON-checked), `unsupported` (a media type it does not declare),
   * `none` (it declares no body).
   */
  bodyRule(
    match: ContractMatch,
    type: string,
  ): { kind: 'json'; check: ValidateFunction | undefined } | { kind: 'stream' | 'unsupported' | 'none' } {
    const body = match.op.body;
    if (!body || body.content.size === 0) return { kind: 'none' };
    const range = mediaRange(body.content.keys(), type);
    if (range === undefined) return { kind: 'unsupported' };
    return isJson(type) ? { kind: 'json', check: this.bodyCheck(match.op, range) } : { kind: 'stream' };
  }

  bodyRequired(match: ContractMatch): boolean {
    return match.op.body?.required === true;
  }

  bodyViolations(check: ValidateFunction, body: unknown): Violation[] {
    return check(body) ? [] : violations('body', check.errors);
  }

  /** The media ranges the operation takes, for a 415's detail. */
  bodyTypes(match: ContractMatch): string[] {
    return [...(match.op.body?.content.keys() ?? [])];
  }

  /**
   * Where an answer breaks the contract: a status it does not declare, a media type its status
   * does not declare, a JSON body its schema refuses. `body` is the parsed JSON, if any.
   */
  answerProblems(
    method: string,
    path: string,
    answer: { status: number; headers: Record<string, unknown>; body?: { json: unknown } },
  ): string[] {
    const match = this.find(method, path);
    if (!match) return [];
    const { op } = match;
    const status =
      [String(answer.status), `${Math.floor(answer.status / 100)}XX`, 'default'].find(
        (s) => op.responses[s] ?? op.responses[s.toLowerCase()],
      ) ?? undefined;
    if (status === undefined) return [`status ${answer.status} is not declared`];
    const key = op.responses[status] ? status : status.toLowerCase();
    const content = (op.responses[key] as Json).content as Json | undefined;
    if (!content || answer.status === 204 || answer.status === 304 || method === 'HEAD') return [];
    const type = header(answer.headers['content-type']).split(';')[0]?.trim() ?? '';
    const range = mediaRange(Object.keys(content), type);
    if (range === undefined) return [`content-type ${type || '(none)'} is not declared for ${answer.status}`];
    const check = this.answerCheck(op, key, range);
    if (!check || !answer.body || check(answer.body.json)) return [];
    return violations('body', check.errors).map((v) => `body ${v.path}: ${v.message}`);
  }
}
