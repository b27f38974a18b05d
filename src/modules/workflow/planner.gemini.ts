import type { GenerateContentResponse, GoogleGenAI, Schema, Type as SchemaType } from '@google/genai';
import { AppError } from '../../errors.ts';
import type { PlanContext, Planner, ToolSpec } from './workflow.plan.ts';

export interface GeminiOptions {
  apiKey: string;
  /** GEMINI_BASE_URL; undefined: Google's endpoint. */
  baseUrl: string | undefined;
  model: string;
  timeoutMs: number;
}

// The SDK (and google-auth-library under it) is loaded only when a key is configured: importing
// it cost every worker ~60 ms of start-up and ~8 MB of RSS whether or not a model was ever used.
let sdk: Promise<typeof import('@google/genai')> | undefined;
const loadSdk = () => {
  sdk ??= import('@google/genai');
  return sdk;
};

// The SDK's `Type` enum, by value, so building the schema does not need the SDK loaded.
const Type = {
  OBJECT: 'OBJECT' as SchemaType.OBJECT,
  STRING: 'STRING' as SchemaType.STRING,
  ARRAY: 'ARRAY' as SchemaType.ARRAY,
  BOOLEAN: 'BOOLEAN' as SchemaType.BOOLEAN,
};

function describe(err: unknown): string {
  if (err instanceof Error && err.name === 'ApiError' && 'status' in err)
    return `HTTP ${err.status}: ${err.message.slice(0, 300)}`;
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}

/** Google's official SDK, with one deadline per call; every failure becomes MODEL_UNAVAILABLE or MODEL_TIMEOUT. */
export class GeminiModel {
  readonly model: string;
  readonly #ai: Promise<GoogleGenAI>;
  readonly #timeoutMs: number;

  constructor(options: GeminiOptions) {
    this.model = options.model;
    this.#timeoutMs = options.timeoutMs;
    this.#ai = loadSdk().then(
      ({ GoogleGenAI }) =>
        new GoogleGenAI({
          apiKey: options.apiKey,
          // The SDK's own timer is a backstop behind ours (and sets X-Server-Timeout); ours fires
          // first so a timeout is reported as one. No retries: a retried step would double the wait.
          httpOptions: { baseUrl: options.baseUrl, timeout: options.timeoutMs + 1000 },
        }),
    );
  }

  async #call(
    contents: string,
    config: { systemInstruction?: string; responseMimeType?: string; responseSchema?: Schema },
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const abortSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let response: GenerateContentResponse;
    try {
      const ai = await this.#ai;
      response = await ai.models.generateContent({
        model: this.model,
        contents,
        config: { ...config, abortSignal },
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      if (deadline.aborted) {
        throw new AppError('MODEL_TIMEOUT', {
          detail: `the model did not answer within ${this.#timeoutMs} ms`,
          cause: err,
        });
      }
      throw new AppError('MODEL_UNAVAILABLE', {
        detail: `the model call failed: ${describe(err)}`,
        cause: err,
      });
    }
    const text = response.text;
    if (!text) {
      const reason =
        response.promptFeedback?.blockReason ?? response.candidates?.[0]?.finishReason ?? 'no candidates';
      throw new AppError('MODEL_UNAVAILABLE', { detail: `the model returned no text (${reason})` });
    }
    return text;
  }

  /** Plain text for `ai.generate`. */
  generate(prompt: string, signal?: AbortSignal): Promise<string> {
    return this.#call(prompt, {}, signal);
  }

  /** A JSON answer constrained by `schema`, parsed; its validation is the caller's. */
  async json(prompt: string, system: string, schema: Schema, signal?: AbortSignal): Promise<unknown> {
    const text = await this.#call(
      prompt,
      { systemInstruction: system, responseMimeType: 'application/json', responseSchema: schema },
      signal,
    );
    try {
      return JSON.parse(text);
    } catch {
      throw new AppError('MODEL_UNAVAILABLE', {
        detail: `the model's answer is not JSON: ${text.slice(0, 200)}`,
      });
    }
  }
}

// Every argument any tool takes; each tool's own schema decides which are allowed (the plan is
// validated exactly like one a user sent).
const argsSchema: Schema = {
  type: Type.OBJECT,
  properties: {
    path: { type: Type.STRING },
    content: { type: Type.STRING },
    createOnly: { type: Type.BOOLEAN },
    from: { type: Type.STRING },
    to: { type: Type.STRING },
    query: { type: Type.STRING },
    regex: { type: Type.BOOLEAN },
    ignoreCase: { type: Type.BOOLEAN },
    prompt: { type: Type.STRING },
  },
};

function planSchema(tools: readonly ToolSpec[]): Schema {
  return {
    type: Type.OBJECT,
    required: ['steps'],
    properties: {
      steps: {
        type: Type.ARRAY,
        items: {
          type: Type.OBJECT,
          required: ['id', 'tool', 'args', 'dependsOn'],
          propertyOrdering: ['id', 'tool', 'args', 'dependsOn'],
          properties: {
            id: { type: Type.STRING },
            tool: { type: Type.STRING, format: 'enum', enum: tools.map((t) => t.name) },
            args: argsSchema,
            dependsOn: { type: Type.ARRAY, items: { type: Type.STRING } },
          },
        },
      },
    },
  };
}

function systemPrompt(tools: readonly ToolSpec[], files: readonly string[]): string {
  const listed = files.slice(0, 200);
  return [
    'You turn a request about the files of one project into a workflow plan.',
    'Answer with JSON: {"steps":[{"id","tool","args","dependsOn"}]}.',
    'Step ids are short and unique (s1, s2, …). A step starts once every step in its dependsOn has succeeded;',
    'steps that do not depend on each other run in parallel, so only add a dependency where order matters.',
    'Paths are relative, use "/" and never "..". Give each tool exactly the arguments its schema allows.',
    'Tools:',
    ...tools.map((t) => `- ${t.name}: ${t.description} Arguments (JSON Schema): ${JSON.stringify(t.args)}`),
    listed.length > 0
      ? `The project's files${files.length > listed.length ? ` (first ${listed.length} of ${files.length})` : ''}: ${listed.join(', ')}`
      : 'The project has no files yet.',
  ].join('\n');
}

/** Plans with Gemini; the answer is returned as is, for the caller to validate like a user's plan. */
export class GeminiPlanner implements Planner {
  readonly name = 'gemini';
  readonly needsFiles = true;
  readonly #model: GeminiModel;

  constructor(model: GeminiModel) {
    this.#model = model;
  }

  plan(prompt: string, ctx: PlanContext): Promise<unknown> {
    return this.#model.json(prompt, systemPrompt(ctx.tools, ctx.files), planSchema(ctx.tools));
  }
}
