import http2 from 'node:http2';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { Agent, request } from 'undici';

// Generators and clients for test/fuzz.test.ts: requests built from the served OpenAPI document,
// valid-looking and hostile, sent over HTTP/1.1 (undici) or HTTP/2 (node:http2).

type Schema = Record<string, unknown>;

export interface Operation {
  method: string;
  path: string;
  parameters: { name: string; in: string; required?: boolean; schema: Schema }[];
  body?: Schema;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface FuzzReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Every operation of an OpenAPI document. */
export function operations(doc: {
  paths: Record<string, Record<string, Record<string, unknown>>>;
}): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const content = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)
        ?.content;
      ops.push({
        method: method.toUpperCase(),
        path,
        parameters: (op.parameters as Operation['parameters'] | undefined) ?? [],
        body: content?.['application/json']?.schema,
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------- strings

const SPECIAL = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '\ud83d',
  '\u202e\u0007',
  '\uffff\ufffe',
  '../../etc/passwd',
  '..;/admin',
  '%2e%2e',
  '__proto__',
  'constructor',
  "' OR '1'='1' --",
  '<script>alert(1)</script>',
  'null',
  'NaN',
  '-1',
  '1e309',
  '99999999999999999999999999',
  '2024-99-99 99:99:99+00',
  'not-a-time',
  '0000-00-00T00:00:00Z',
  '00000000-0000-0000-0000-000000000000',
];

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Strings as a careless or hostile client sends them: controls, NUL, lone surrogates, huge. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('a', '\u0001', 'é', '\ud800', ' '), fc.integer({ min: 1000, max: 70_000 }))
      .map(([c, n]) => c.repeat(n)),
  },
);

const shortHostile = hostileString.filter((s) => s.length <= 300);

/** Percent-encodes like a client that knows no rules: lone surrogates as their WTF-8 bytes. */
export function percentEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (/[A-Za-z0-9._~-]/.test(s[i] as string)) out += s[i];
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && /[\udc00-\udfff]/.test(s[i + 1] as string)) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`;
    } else out += encodeURIComponent(s[i] as string);
  }
  return out;
}

/** A URL component: encoded hostile text, or raw malformed escapes. */
const urlPart = (known: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 4, arbitrary: known.map(percentEncode) },
    { weight: 2, arbitrary: shortHostile.map(percentEncode) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%C0%AF', '%ED%A0%80', '%00', '%252e', '..', '.') },
  );

// ---------------------------------------------------------------- JSON

const hostileKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    '',
    'a\u0000',
    '\ud800',
  ),
  fc.string({ maxLength: 12 }),
);

/** Any JSON value, hostile strings and keys included. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    shortHostile,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;

interface Known {
  /** UUIDs worth aiming at: the caller's own resources and another user's. */
  ids: string[];
  /** File paths that exist (the caller's and another user's). */
  paths: string[];
}

const TOOLS = ['vfs.read', 'vfs.write', 'vfs.delete', 'vfs.move', 'vfs.search', 'ai.generate'];

function planArb(known: Known): fc.Arbitrary<unknown> {
  const text = fc.oneof(fc.constantFrom(...known.paths, 'a.txt', 'x/y.md'), shortHostile);
  const args = fc.record(
    {
      path: text,
      content: text,
      from: text,
      to: text,
      query: text,
      regex: fc.boolean(),
      prompt: text,
      extra: hostileJson,
    },
    { requiredKeys: [] },
  );
  const step = fc.record({
    id: fc.oneof(fc.constantFrom('s1', 's2', 's3'), shortHostile),
    tool: fc.oneof(fc.constantFrom(...TOOLS), shortHostile),
    args: fc.oneof({ weight: 5, arbitrary: args }, { weight: 1, arbitrary: hostileJson }),
    dependsOn: fc.array(fc.constantFrom('s1', 's2', 's3', 's9'), { maxLength: 3 }),
  });
  return fc.record({ steps: fc.array(step, { minLength: 0, maxLength: 4 }) });
}

/** A value that looks like what `schema` asks for, sometimes with hostile parts. */
export function fromSchema(schema: Schema, known: Known, name = ''): fc.Arbitrary<unknown> {
  const valid = validFromSchema(schema, known, name);
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: hostileJson });
}

function validFromSchema(schema: Schema, known: Known, name: string): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string | undefined];
  const type = types.find((t) => t !== 'null') ?? types[0];
  switch (type) {
    case 'string': {
      if (schema.format === 'uuid') return fc.oneof(fc.constantFrom(...known.ids), fc.uuid());
      if (schema.format === 'email') return fc.emailAddress();
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      if (name === 'path' || name === 'from' || name === 'to' || name === 'prefix') {
        return fc.oneof(fc.constantFrom(...known.paths, 'dir', 'a.txt'), shortHostile);
      }
      const max = Math.min(Number(schema.maxLength ?? 60), 60);
      const min = Math.min(Number(schema.minLength ?? 0), max);
      return fc.oneof(
        { weight: 3, arbitrary: fc.string({ minLength: min, maxLength: max }) },
        { weight: 1, arbitrary: hostileString },
      );
    }
    case 'integer':
      return fc.oneof(
        fc.integer({ min: Number(schema.minimum ?? -1000), max: Number(schema.maximum ?? 100_000) }),
        fc.constantFrom(0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER),
      );
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(fromSchema((schema.items as Schema | undefined) ?? {}, known), { maxLength: 4 });
    case 'object': {
      const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
      if (name === 'plan') return planArb(known);
      if (Object.keys(props).length === 0) return fc.dictionary(hostileKey, hostileJson, { maxKeys: 4 });
      const required = (schema.required as string[] | undefined) ?? [];
      const record = fc.record(
        Object.fromEntries(Object.entries(props).map(([k, s]) => [k, fromSchema(s, known, k)])),
        { requiredKeys: required.filter((k) => k in props) },
      );
      return fc.oneof(
        { weight: 5, arbitrary: record },
        {
          weight: 1,
          arbitrary: fc
            .tuple(record, hostileKey, hostileJson)
            .map(([r, k, v]) => Object.assign(Object.create(null), r, { [k]: v })),
        },
      );
    }
    default:
      return hostileJson;
  }
}

/** Body bytes: JSON from the schema, hostile JSON, or text no JSON parser should accept. */
export function bodyArb(schema: Schema | undefined, known: Known): fc.Arbitrary<Buffer> {
  const json = (schema ? fromSchema(schema, known) : hostileJson).map((v) =>
    Buffer.from(JSON.stringify(v) ?? 'null'),
  );
  const nasty = fc.oneof(
    fc.constantFrom('{', '{"a":', '[1,]', '"\\ud800"', '{"a":"\\u0000"}', '', 'null', '1', '"x"', '\ufeff{}'),
    fc.integer({ min: 100, max: 200_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    fc.integer({ min: 100, max: 50_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
    json.map(
      (b) =>
        `{"__proto__":{"admin":true,"scopes":["admin"]},"constructor":{"prototype":{"x":1}},${b.toString().slice(1)}`,
    ),
  );
  return fc.oneof(
    { weight: 6, arbitrary: json },
    { weight: 2, arbitrary: nasty.map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(1_100_000, 0x20)) },
  );
}

const headerValue = fc
  .oneof(
    shortHostile,
    fc.constantFrom('*', '"abc"', 'W/"x", "y"', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
  )
  .map((s) => s.replace(/[^\t\x20-\x7e]/g, '').slice(0, 200));

/** A request for `op`, as `token`'s holder (or anonymously, or with garbage credentials). */
export function requestArb(op: Operation, known: Known, token: string): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const segments = pathParams.map((p) =>
    p.name === 'path'
      ? fc
          .array(urlPart(fc.constantFrom(...known.paths.flatMap((x) => x.split('/')), 'a.txt', 'dir')), {
            minLength: 1,
            maxLength: 4,
          })
          .map((parts) => parts.join('/'))
      : urlPart(fc.constantFrom(...known.ids)),
  );
  const query = fc
    .tuple(
      ...queryParams.map((p) =>
        fc.option(
          fc.oneof(
            fromSchema(p.schema, known, p.name).map((v) =>
              // Kept under MAX_HEADER_SIZE: an over-long URL is the HTTP parser's 431, not the app's.
              (typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).slice(0, 500),
            ),
            p.name === 'cursor' ? cursorArb : shortHostile,
          ),
          { freq: 2 },
        ),
      ),
      fc.option(fc.tuple(hostileKey, shortHostile), { freq: 4 }),
    )
    .map((values) => {
      const extra = values.pop() as [string, string] | null;
      const pairs = queryParams
        .map((p, i) => [p.name, values[i]] as const)
        .filter((pair): pair is readonly [string, string] => typeof pair[1] === 'string');
      if (extra) pairs.push(extra);
      return pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
    });
  const auth = fc.oneof(
    { weight: 8, arbitrary: fc.constant(`Bearer ${token}`) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer x.y.z', 'Basic YTpi', `Bearer ${token}x`, 'Bearer') },
  );
  const extraHeaders = fc.dictionary(
    fc.constantFrom(
      'x-request-id',
      'traceparent',
      'if-match',
      'if-none-match',
      'last-event-id',
      'accept',
      'accept-encoding',
      'range',
      'x-forwarded-for',
      'origin',
    ),
    headerValue,
    { maxKeys: 3 },
  );
  const contentType = fc.constantFrom(
    'application/json',
    'application/json',
    'application/json',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    undefined,
  );
  const hasBody = op.method !== 'GET';
  return fc
    .record({
      segments: fc.tuple(...segments),
      query,
      auth,
      extra: extraHeaders,
      contentType,
      body: hasBody ? fc.option(bodyArb(op.body, known), { freq: 8 }) : fc.constant(null),
    })
    .map(({ segments: values, query: q, auth: a, extra, contentType: ct, body }) => {
      let i = 0;
      const path = op.path.replace(/\{[^}]+\}/g, () => values[i++] as string);
      const headers: Record<string, string> = { ...extra };
      if (a) headers.authorization = a;
      if (body && ct) headers['content-type'] = ct;
      return { method: op.method, url: q ? `${path}?${q}` : path, headers, body: body ?? undefined };
    });
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Cursors: well-formed ones with impossible parts, and junk. */
export const cursorArb: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(shortHostile, shortHostile).map(b64),
  fc
    .tuple(
      fc.constantFrom('2024-99-99 99:99:99+00', '2024-02-30 00:00:00+00', 'not-a-time', '12\u0000'),
      fc.uuid(),
    )
    .map(b64),
  fc.tuple(fc.constantFrom('1', '99999999999999999'), shortHostile).map(b64),
  hostileJson.map(b64),
  shortHostile,
);

// ---------------------------------------------------------------- clients

const TIMEOUT_MS = 20_000;
// RFC 9113 §7 error codes, by number.
const RST_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

// The fuzzer may ask for compression (`accept-encoding: *`); bodies are checked decoded.
function decoded(res: FuzzReply): FuzzReply {
  const encoding = String(res.headers['content-encoding'] ?? '');
  if (res.body.length === 0) return res;
  if (encoding === 'gzip') return { ...res, body: zlib.gunzipSync(res.body) };
  if (encoding === 'br') return { ...res, body: zlib.brotliDecompressSync(res.body) };
  if (encoding === 'deflate') return { ...res, body: zlib.inflateSync(res.body) };
  return res;
}

/** HTTP/1.1 and HTTP/2 clients that stop reading an event stream once its head arrived. */
export class FuzzClients {
  readonly #agent: Agent;
  readonly #h1Origin: string;
  readonly #h2Origin: string;
  readonly #ca: Buffer;
  #session: http2.ClientHttp2Session | undefined;

  constructor(h1Origin: string, h2Origin: string, ca: Buffer) {
    this.#h1Origin = h1Origin;
    this.#h2Origin = h2Origin;
    this.#ca = ca;
    this.#agent = new Agent({ connect: { ca }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  }

  async send(protocol: 'h1' | 'h2', req: FuzzRequest): Promise<FuzzReply> {
    return decoded(await this.#send(protocol, req));
  }

  async #send(protocol: 'h1' | 'h2', req: FuzzRequest): Promise<FuzzReply> {
    if (protocol === 'h1') return this.#h1(req);
    try {
      return await this.#h2(req);
    } catch (err) {
      // A session whose unread upload data passed H2_MAX_SESSION_MEMORY_MB refuses new streams
      // (nghttp2's guard, not an answer of the app's): ask again on a fresh session.
      if (!/ENHANCE_YOUR_CALM|REFUSED_STREAM/.test(String((err as Error).message))) throw err;
      this.#session?.destroy();
      this.#session = undefined;
      return this.#h2(req);
    }
  }

  async #h1(req: FuzzRequest): Promise<FuzzReply> {
    const res = await request(`${this.#h1Origin}${req.url}`, {
      dispatcher: this.#agent,
      method: req.method as 'GET',
      headers: req.headers,
      body: req.body,
    });
    if (String(res.headers['content-type']).startsWith('text/event-stream')) {
      res.body.destroy();
      return { status: res.statusCode, headers: res.headers, body: Buffer.alloc(0) };
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  #h2(req: FuzzRequest): Promise<FuzzReply> {
    if (!this.#session || this.#session.closed || this.#session.destroyed) {
      // node's client counts the unsent rest of an upload the server answered early (a 404 or
      // 413 on a 1 MB body) against its own session memory (10 MB by default) and then refuses
      // new streams with ENHANCE_YOUR_CALM: the fuzzer's one session sends many such uploads.
      this.#session = http2.connect(this.#h2Origin, { ca: this.#ca, maxSessionMemory: 1024 });
      this.#session.on('error', () => undefined);
    }
    const session = this.#session;
    return new Promise((resolve, reject) => {
      // node:http2 ends a DELETE's request side at once unless told that a body follows.
      const stream = session.request(
        { ':method': req.method, ':path': req.url, ...req.headers },
        { endStream: req.body === undefined },
      );
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`no answer within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders | undefined;
      const answer = (body = Buffer.concat(chunks)): FuzzReply => ({
        status: Number(head?.[':status']),
        headers: head as FuzzReply['headers'],
        body,
      });
      stream.on('response', (h) => {
        head = h;
        if (String(h['content-type']).startsWith('text/event-stream')) {
          clearTimeout(timer);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          resolve(answer(Buffer.alloc(0)));
        }
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('close', () => {
        clearTimeout(timer);
        if (head) resolve(answer());
        else
          reject(
            new Error(`the stream closed without an answer: ${RST_NAMES[stream.rstCode] ?? stream.rstCode}`),
          );
      });
      stream.on('error', (err) => {
        clearTimeout(timer);
        // A server may reset the rest of an upload it already answered (413): the answer stands.
        if (head) resolve(answer());
        else reject(err);
      });
      stream.end(req.body);
    });
  }

  async close(): Promise<void> {
    this.#session?.close();
    await this.#agent.close();
  }
}
