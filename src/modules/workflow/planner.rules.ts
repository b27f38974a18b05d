import { AppError } from '../../errors.ts';
import type { Plan, Planner, PlanStep } from './workflow.plan.ts';

/** Shown with every prompt the rule-based planner cannot read (and in docs/api/workflow.md). */
export const GRAMMAR = [
  'create <path> [with <text>]        a new file (the step fails if it exists)',
  'write|replace <path> with <text>   create or overwrite a file',
  'rename|move <from> to <to>',
  'delete <path>',
  'read <path>',
  'search <text> | search "<text>" | search /<regex>/[i]',
  'generate <path>: <prompt>          model output written to <path> (needs GEMINI_API_KEY)',
  '<clause> and <clause>              independent: they run in parallel',
  '<clauses> then <clauses>           the right side waits for all of the left ("then", ";" or a new line)',
  'quote text that contains "and" or "then": create notes.txt with "salt and pepper"',
];

type Token =
  | { kind: 'word' | 'quoted' | 'regex'; text: string; start: number; end: number }
  | { kind: 'sep'; sep: 'and' | 'then'; start: number; end: number };
type Atom = Exclude<Token, { kind: 'sep' }>;

function notUnderstood(clause: string, reason: string): AppError {
  return new AppError('INVALID_PROMPT', {
    detail: clause ? `cannot read "${clause}": ${reason}` : reason,
    extensions: { clause, grammar: GRAMMAR },
  });
}

const SPACE = /\s/;

function lex(prompt: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < prompt.length) {
    const c = prompt[i] as string;
    if (c === ';' || c === '\n') {
      tokens.push({ kind: 'sep', sep: 'then', start: i, end: i + 1 });
      i++;
    } else if (SPACE.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      const start = i;
      let text = '';
      i++;
      while (i < prompt.length && prompt[i] !== c) {
        // Double quotes take JSON's escapes; single quotes take the text as it is.
        if (c === '"' && prompt[i] === '\\' && i + 1 < prompt.length) {
          const e = prompt[i + 1] as string;
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
        } else {
          text += prompt[i];
          i++;
        }
      }
      if (i >= prompt.length)
        throw notUnderstood('', `unterminated quote starting at character ${start + 1}`);
      i++;
      tokens.push({ kind: 'quoted', text, start, end: i });
    } else {
      const start = i;
      const regexEnd = c === '/' ? scanRegex(prompt, i) : -1;
      if (regexEnd > 0) {
        i = regexEnd;
        tokens.push({ kind: 'regex', text: prompt.slice(start, i), start, end: i });
        continue;
      }
      while (i < prompt.length && !SPACE.test(prompt[i] as string) && prompt[i] !== ';') i++;
      const text = prompt.slice(start, i);
      const lower = text.toLowerCase();
      if (lower === 'and' || lower === 'then') tokens.push({ kind: 'sep', sep: lower, start, end: i });
      else tokens.push({ kind: 'word', text, start, end: i });
    }
  }
  return tokens;
}

/** End of a `/pattern/flags` literal starting at `from`, or -1 when the text there is not one. */
function scanRegex(s: string, from: number): number {
  let i = from + 1;
  let inClass = false;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) break;
    else if (c === '\n') return -1;
  }
  if (i >= s.length || i === from + 1) return -1;
  i++;
  while (i < s.length && /[a-z]/.test(s[i] as string)) i++;
  return i === s.length || SPACE.test(s[i] as string) || s[i] === ';' ? i : -1;
}

function isWord(t: Atom | undefined, ...words: string[]): boolean {
  return t?.kind === 'word' && words.includes(t.text.toLowerCase());
}

/** The text a run of tokens spells: a lone quoted token's value, else the prompt as written. */
function textOf(prompt: string, tokens: Atom[]): string {
  const first = tokens[0];
  const last = tokens.at(-1);
  if (!first || !last) return '';
  if (tokens.length === 1 && first.kind === 'quoted') return first.text;
  return prompt.slice(first.start, last.end);
}

function pathOf(t: Atom | undefined, clause: string, what = 'a path'): string {
  if (!t || t.kind === 'regex') throw notUnderstood(clause, `expected ${what}`);
  return t.text;
}

function parseClause(prompt: string, tokens: Atom[]): Omit<PlanStep, 'id' | 'dependsOn'> {
  const first = tokens[0] as Atom;
  const clause = prompt.slice(first.start, (tokens.at(-1) as Atom).end);
  const verb = first.kind === 'word' ? first.text.toLowerCase() : '';
  const rest = tokens.slice(1);
  switch (verb) {
    case 'create':
    case 'write':
    case 'replace':
    case 'overwrite': {
      const path = pathOf(rest[0], clause);
      if (rest.length > 1 && !isWord(rest[1], 'with'))
        throw notUnderstood(clause, 'expected "with <text>" after the path');
      if (rest.length === 2) throw notUnderstood(clause, 'expected text after "with"');
      if (rest.length === 1 && verb !== 'create') throw notUnderstood(clause, 'expected "with <text>"');
      const content = textOf(prompt, rest.slice(2));
      return {
        tool: 'vfs.write',
        args: verb === 'create' ? { path, content, createOnly: true } : { path, content },
      };
    }
    case 'rename':
    case 'move': {
      if (rest.length !== 3 || !isWord(rest[1], 'to'))
        throw notUnderstood(clause, 'expected "<from> to <to>"');
      return { tool: 'vfs.move', args: { from: pathOf(rest[0], clause), to: pathOf(rest[2], clause) } };
    }
    case 'delete':
    case 'remove': {
      if (rest.length !== 1) throw notUnderstood(clause, 'expected exactly one path');
      return { tool: 'vfs.delete', args: { path: pathOf(rest[0], clause) } };
    }
    case 'read': {
      if (rest.length !== 1) throw notUnderstood(clause, 'expected exactly one path');
      return { tool: 'vfs.read', args: { path: pathOf(rest[0], clause) } };
    }
    case 'search':
    case 'find': {
      const terms = isWord(rest[0], 'for') && rest.length > 1 ? rest.slice(1) : rest;
      const only = terms[0];
      if (!only) throw notUnderstood(clause, 'expected what to search for');
      if (terms.length === 1 && only.kind === 'regex') {
        const close = only.text.lastIndexOf('/');
        const flags = only.text.slice(close + 1);
        if (flags !== '' && flags !== 'i')
          throw notUnderstood(clause, 'the only regex flag understood is "i"');
        return {
          tool: 'vfs.search',
          args: { query: only.text.slice(1, close), regex: true, ...(flags ? { ignoreCase: true } : {}) },
        };
      }
      return { tool: 'vfs.search', args: { query: textOf(prompt, terms) } };
    }
    case 'generate': {
      let path: string;
      let from: number;
      const target = rest[0];
      if (target?.kind === 'word' && target.text.endsWith(':') && target.text.length > 1) {
        path = target.text.slice(0, -1);
        from = 1;
      } else if (isWord(rest[1], ':', 'with', 'from')) {
        path = pathOf(target, clause);
        from = 2;
      } else {
        throw notUnderstood(clause, 'expected "generate <path>: <prompt>"');
      }
      const instruction = textOf(prompt, rest.slice(from));
      if (!instruction) throw notUnderstood(clause, 'expected a prompt after the path');
      return { tool: 'ai.generate', args: { prompt: instruction, path } };
    }
    default:
      throw notUnderstood(clause, `unknown action "${first.text}"`);
  }
}

/**
 * The deterministic planner: the same prompt always gives the same plan. Clauses joined by
 * "and" form a stage whose steps run in parallel; "then" starts a stage that waits for every
 * step of the previous one. Steps are named s1, s2, … in the order they are written.
 */
export function planFromRules(prompt: string): Plan {
  const stages: Atom[][][] = [];
  let stage: Atom[][] = [];
  let clause: Atom[] = [];
  let dangling: string | undefined;
  for (const t of lex(prompt)) {
    if (t.kind !== 'sep') {
      clause.push(t);
      dangling = undefined;
      continue;
    }
    const written = prompt.slice(t.start, t.end);
    const structural = written === ';' || written === '\n';
    if (clause.length === 0) {
      // Blank lines and ";;" are harmless; an "and"/"then" with nothing before it is not.
      if (structural) continue;
      throw notUnderstood(prompt.trim(), `"${written}" needs a clause on each side`);
    }
    stage.push(clause);
    clause = [];
    if (t.sep === 'then') {
      stages.push(stage);
      stage = [];
    }
    dangling = structural ? undefined : written;
  }
  if (dangling) throw notUnderstood(prompt.trim(), `"${dangling}" needs a clause on each side`);
  if (clause.length > 0) stage.push(clause);
  if (stage.length > 0) stages.push(stage);
  if (stages.length === 0) throw notUnderstood('', 'the prompt is empty');

  const steps: PlanStep[] = [];
  let previous: string[] = [];
  for (const clauses of stages) {
    const ids: string[] = [];
    for (const c of clauses) {
      const id = `s${steps.length + 1}`;
      steps.push({ id, ...parseClause(prompt, c), dependsOn: [...previous] });
      ids.push(id);
    }
    previous = ids;
  }
  return { steps };
}

export class RulesPlanner implements Planner {
  readonly name = 'rules';
  readonly needsFiles = false;

  async plan(prompt: string): Promise<unknown> {
    return planFromRules(prompt);
  }
}
