import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRequest {
  path: string;
  model: string;
  apiKey: string | undefined;
  body: {
    contents?: { role?: string; parts?: { text?: string }[] }[];
    systemInstruction?: { parts?: { text?: string }[] };
    generationConfig?: { responseMimeType?: string; responseSchema?: unknown };
  };
  /** The user prompt's text. */
  prompt: string;
  json: boolean;
}

/**
 * A stand-in for the Gemini API (`POST /{version}/models/{model}:generateContent`, the JSON the
 * `@google/genai` SDK sends and reads). What it answers is steered by markers in the prompt:
 * `[hold:NAME]` waits until `release('NAME')`, `[fail]` answers 500 with Google's error body,
 * `[empty]` answers a candidate blocked for safety, with no text, `[not-json]` answers prose to a
 * JSON request. JSON requests (plans) get the
 * plan registered for the prompt with `planFor`, else `{"steps":[]}`; text requests get
 * `Generated: <prompt>`.
 */
export class GeminiStub {
  readonly requests: StubRequest[] = [];
  readonly #plans = new Map<string, unknown>();
  readonly #held = new Map<string, (() => void)[]>();
  readonly #released = new Set<string>();
  readonly #arrivals = new Set<() => void>();
  #server: http.Server | undefined;
  url = '';

  planFor(prompt: string, plan: unknown): void {
    this.#plans.set(prompt, plan);
  }

  /** Lets every request held under NAME (and any that arrive later) answer. */
  release(name: string): void {
    this.#released.add(name);
    for (const go of this.#held.get(name) ?? []) go();
    this.#held.delete(name);
  }

  /** How many requests are waiting under NAME now. */
  heldCount(name: string): number {
    return this.#held.get(name)?.length ?? 0;
  }

  /** Resolves once a request is held under NAME. */
  async waitForHeld(name: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.heldCount(name) === 0) {
      if (Date.now() > deadline) throw new Error(`no request was held under ${name}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#arrivals.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async start(): Promise<string> {
    this.#server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => this.#answer(req, res, raw));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const m = /^\/[^/]+\/models\/([^/:]+):generateContent$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":404,"status":"NOT_FOUND"}}');
      return;
    }
    const body = JSON.parse(raw) as StubRequest['body'];
    const prompt = (body.contents ?? [])
      .flatMap((c) => c.parts ?? [])
      .map((p) => p.text ?? '')
      .join('');
    const json = body.generationConfig?.responseMimeType === 'application/json';
    this.requests.push({
      path: req.url as string,
      model: m[1] as string,
      apiKey: req.headers['x-goog-api-key'] as string | undefined,
      body,
      prompt,
      json,
    });
    const send = () => {
      if (res.destroyed) return;
      if (prompt.includes('[fail]')) {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 500, message: 'stub failure', status: 'INTERNAL' } }));
        return;
      }
      const text = prompt.includes('[not-json]')
        ? 'Sure! Here is your plan.'
        : json
          ? JSON.stringify(this.#plans.get(prompt) ?? { steps: [] })
          : `Generated: ${prompt}`;
      const candidate = prompt.includes('[empty]')
        ? { content: { role: 'model', parts: [] }, finishReason: 'SAFETY', index: 0 }
        : {
            content: {
              role: 'model',
              parts: [{ text }],
            },
            finishReason: 'STOP',
            index: 0,
          };
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          candidates: [candidate],
          usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
          modelVersion: m[1],
        }),
      );
    };
    const hold = /\[hold:([A-Za-z0-9_-]+)\]/.exec(prompt)?.[1];
    if (hold && !this.#released.has(hold)) {
      this.#held.set(hold, [...(this.#held.get(hold) ?? []), send]);
      for (const notify of this.#arrivals) notify();
      this.#arrivals.clear();
      return;
    }
    send();
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}
