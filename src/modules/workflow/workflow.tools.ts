import type { FileEntry } from '../projects/index.ts';
import type { GeminiModel } from './planner.gemini.ts';
import type { SearchPool } from './search.pool.ts';
import type { ToolSpec } from './workflow.plan.ts';

/** The part of the projects module's VFS service the tools use (its contract, issue #7). */
export interface VfsPort {
  list(projectId: string): Promise<FileEntry[]>;
  read(projectId: string, path: string): Promise<{ entry: FileEntry; content: Buffer }>;
  write(
    projectId: string,
    path: string,
    content: Buffer,
    cond?: { ifMatch?: string; ifNoneMatch?: '*' },
  ): Promise<{ entry: FileEntry; created: boolean }>;
  remove(projectId: string, path: string, cond?: { ifMatch?: string }): Promise<void>;
  move(projectId: string, from: string, to: string): Promise<FileEntry>;
  contents(projectId: string): Promise<{ path: string; content: string }[]>;
}

export interface ToolContext {
  projectId: string;
  /** Aborted on cancel, step timeout or a lost lease; tools stop as soon as they can. */
  signal: AbortSignal;
}

export type ToolOutput = Record<string, unknown>;

export interface Tool extends ToolSpec {
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutput>;
}

// Path rules ("..", control characters, length, depth) are the VFS's: the plan validator applies
// them to the arguments listed in `paths`, and the VFS again when the step runs.
const path = { type: 'string', minLength: 1, maxLength: 1024 };
const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

export interface ToolDeps {
  vfs: VfsPort;
  search: SearchPool;
  /** undefined without GEMINI_API_KEY: `ai.generate` is listed but unavailable. */
  model: GeminiModel | undefined;
  outputMaxBytes: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function textOrNothing(content: Buffer): string | undefined {
  if (content.includes(0)) return undefined;
  try {
    return strictUtf8.decode(content);
  } catch {
    return undefined;
  }
}

function fileSummary(entry: FileEntry): ToolOutput {
  return { path: entry.path, size: entry.size, contentHash: entry.contentHash, version: entry.version };
}

/** Every tool a plan may name, bound to this worker's VFS, search pool and model. */
export function createTools(deps: ToolDeps): Tool[] {
  const { vfs } = deps;
  return [
    {
      name: 'vfs.read',
      description: 'Reads a file; its text (cut at a limit) is recorded in the step output.',
      args: object({ path }, ['path']),
      paths: ['path'],
      async run(args, ctx) {
        const { entry, content } = await vfs.read(ctx.projectId, args.path as string);
        const text = textOrNothing(content);
        if (text === undefined) return { ...fileSummary(entry), binary: true };
        const cut = content.length > deps.outputMaxBytes;
        // Cutting bytes may split a character; the decoder replaces the partial one.
        const shown = cut ? content.subarray(0, deps.outputMaxBytes).toString('utf8') : text;
        return { ...fileSummary(entry), content: shown, truncated: cut };
      },
    },
    {
      name: 'vfs.write',
      description: 'Creates or replaces a file with the given text; createOnly fails the step if it exists.',
      args: object({ path, content: { type: 'string' }, createOnly: { type: 'boolean' } }, [
        'path',
        'content',
      ]),
      paths: ['path'],
      async run(args, ctx) {
        const { entry, created } = await vfs.write(
          ctx.projectId,
          args.path as string,
          Buffer.from(args.content as string, 'utf8'),
          args.createOnly ? { ifNoneMatch: '*' } : undefined,
        );
        return { ...fileSummary(entry), created };
      },
    },
    {
      name: 'vfs.delete',
      description: 'Deletes a file.',
      args: object({ path }, ['path']),
      paths: ['path'],
      async run(args, ctx) {
        await vfs.remove(ctx.projectId, args.path as string);
        return { path: args.path, deleted: true };
      },
    },
    {
      name: 'vfs.move',
      description: 'Renames or moves a file.',
      args: object({ from: path, to: path }, ['from', 'to']),
      paths: ['from', 'to'],
      async run(args, ctx) {
        const entry = await vfs.move(ctx.projectId, args.from as string, args.to as string);
        return { from: args.from, ...fileSummary(entry) };
      },
    },
    {
      name: 'vfs.search',
      description:
        'Searches the text of every file for query (a literal, or a JavaScript regular expression when regex is true); records path, line, column and a preview of each match.',
      args: object(
        {
          query: { type: 'string', minLength: 1, maxLength: 1000 },
          regex: { type: 'boolean' },
          ignoreCase: { type: 'boolean' },
        },
        ['query'],
      ),
      async run(args, ctx) {
        const q = args as { query: string; regex?: boolean; ignoreCase?: boolean };
        const found = await deps.search.searchLoaded(() => vfs.contents(ctx.projectId), q, ctx.signal);
        return { query: q.query, ...found };
      },
    },
    {
      name: 'ai.generate',
      description: 'Asks the model for text from prompt and writes the answer to path.',
      args: object({ prompt: { type: 'string', minLength: 1, maxLength: 20_000 }, path }, ['prompt', 'path']),
      paths: ['path'],
      unavailable: deps.model ? undefined : 'GEMINI_API_KEY is not set',
      async run(args, ctx) {
        const model = deps.model;
        if (!model) throw new Error('ai.generate needs GEMINI_API_KEY');
        const text = await model.generate(args.prompt as string, ctx.signal);
        ctx.signal.throwIfAborted();
        const { entry, created } = await vfs.write(
          ctx.projectId,
          args.path as string,
          Buffer.from(text, 'utf8'),
        );
        return { ...fileSummary(entry), created, model: model.model };
      },
    },
  ];
}
