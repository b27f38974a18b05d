import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { AppError } from '../../errors.ts';

/** One step of a plan: a tool call that starts once every step it depends on has succeeded. */
export interface PlanStep {
  id: string;
  tool: string;
  args: Record<string, unknown>;
  dependsOn: string[];
}

export interface Plan {
  steps: PlanStep[];
}

/** What validation needs to know about a tool: its name, argument schema and availability. */
export interface ToolSpec {
  name: string;
  description: string;
  args: Record<string, unknown>;
  /** Why the tool cannot be used on this deployment (e.g. no model configured); undefined when it can. */
  unavailable?: string;
  /** Arguments that name files, checked against the VFS path rules before the plan runs. */
  paths?: readonly string[];
}

/** The VFS path rule: returns normally for a usable path, throws an AppError saying why not otherwise. */
export type PathCheck = (path: string) => unknown;

/** What a planner may look at besides the prompt. */
export interface PlanContext {
  tools: readonly ToolSpec[];
  /** The project's file paths; empty for planners that do not ask for them. */
  files: readonly string[];
}

/** Turns a prompt into a plan, which the caller then validates like one a user sent. */
export interface Planner {
  readonly name: 'rules' | 'gemini';
  /** Whether `plan` wants the project's file list (it costs a query). */
  readonly needsFiles: boolean;
  plan(prompt: string, ctx: PlanContext): Promise<unknown>;
}

export interface PlanProblem {
  in: 'body';
  path: string;
  message: string;
}

const STEP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const STEP_KEYS = new Set(['id', 'tool', 'args', 'dependsOn']);

const ajv = new Ajv2020({ allErrors: true, strict: false });

/** Compiles each tool's argument schema once; `check` answers the named problems of a plan. */
export class PlanValidator {
  readonly #tools: Map<string, ToolSpec & { validate: ValidateFunction }>;
  readonly #maxSteps: number;
  readonly #checkPath: PathCheck | undefined;

  constructor(tools: readonly ToolSpec[], maxSteps: number, checkPath?: PathCheck) {
    this.#tools = new Map(tools.map((t) => [t.name, { ...t, validate: ajv.compile(t.args) }]));
    this.#maxSteps = maxSteps;
    this.#checkPath = checkPath;
  }

  get tools(): ToolSpec[] {
    return [...this.#tools.values()].map(({ validate: _v, ...spec }) => spec);
  }

  /** The plan, normalised (`dependsOn` defaults to []), or INVALID_PLAN listing every problem found. */
  validate(input: unknown, pointer = '/plan'): Plan {
    const problems = this.check(input, pointer);
    if (problems.length > 0) {
      throw new AppError('INVALID_PLAN', {
        detail: problems.map((p) => p.message).join('; '),
        extensions: { errors: problems },
      });
    }
    const steps = (input as { steps: Record<string, unknown>[] }).steps.map((s) => ({
      id: s.id as string,
      tool: s.tool as string,
      args: s.args as Record<string, unknown>,
      dependsOn: (s.dependsOn as string[] | undefined) ?? [],
    }));
    return { steps };
  }

  check(input: unknown, pointer = '/plan'): PlanProblem[] {
    const problems: PlanProblem[] = [];
    const add = (path: string, message: string) =>
      problems.push({ in: 'body', path: pointer + path, message });
    if (!isObject(input) || !Array.isArray(input.steps)) {
      add('/steps', 'a plan is an object with a "steps" array');
      return problems;
    }
    for (const key of Object.keys(input)) if (key !== 'steps') add(`/${key}`, `unknown plan member "${key}"`);
    const steps = input.steps as unknown[];
    if (steps.length === 0) add('/steps', 'a plan needs at least one step');
    if (steps.length > this.#maxSteps) {
      add('/steps', `a plan may have at most ${this.#maxSteps} steps (this one has ${steps.length})`);
      return problems;
    }

    const ids = new Map<string, number>();
    steps.forEach((step, i) => {
      if (isObject(step) && typeof step.id === 'string' && STEP_ID.test(step.id)) {
        if (ids.has(step.id)) add(`/steps/${i}/id`, `duplicate step id "${step.id}"`);
        else ids.set(step.id, i);
      }
    });

    steps.forEach((step, i) => {
      const at = `/steps/${i}`;
      if (!isObject(step)) {
        add(at, `step ${i} is not an object`);
        return;
      }
      const name = typeof step.id === 'string' && STEP_ID.test(step.id) ? step.id : undefined;
      const label = name ? `step "${name}"` : `step ${i}`;
      if (!name) add(`${at}/id`, `${label}: "id" must be 1-64 letters, digits, "_", "." or "-"`);
      for (const key of Object.keys(step)) {
        if (!STEP_KEYS.has(key)) add(`${at}/${key}`, `${label}: unknown member "${key}"`);
      }
      const tool = typeof step.tool === 'string' ? this.#tools.get(step.tool) : undefined;
      if (typeof step.tool !== 'string') add(`${at}/tool`, `${label}: "tool" must be a string`);
      else if (!tool) add(`${at}/tool`, `unknown tool "${step.tool}" in ${label}`);
      else if (tool.unavailable)
        add(`${at}/tool`, `tool "${tool.name}" in ${label} is unavailable: ${tool.unavailable}`);
      if (!isObject(step.args)) add(`${at}/args`, `${label}: "args" must be an object`);
      else if (tool && !tool.validate(step.args)) {
        for (const e of tool.validate.errors ?? []) {
          const where = argPath(e);
          add(`${at}/args${where}`, `${label} (${tool.name}): args${where || ''} ${e.message ?? 'invalid'}`);
        }
      } else if (tool && this.#checkPath) {
        for (const arg of tool.paths ?? []) {
          const bad = this.#pathProblem(step.args[arg] as string);
          if (bad) add(`${at}/args/${arg}`, `${label} (${tool.name}): args/${arg} ${bad}`);
        }
      }
      const deps = step.dependsOn;
      if (deps === undefined) return;
      if (!Array.isArray(deps)) {
        add(`${at}/dependsOn`, `${label}: "dependsOn" must be an array of step ids`);
        return;
      }
      const seen = new Set<unknown>();
      deps.forEach((dep, j) => {
        if (typeof dep !== 'string')
          add(`${at}/dependsOn/${j}`, `${label}: dependencies are step ids (strings)`);
        else if (dep === name) add(`${at}/dependsOn/${j}`, `${label} depends on itself`);
        else if (seen.has(dep)) add(`${at}/dependsOn/${j}`, `${label} lists "${dep}" twice`);
        else if (!ids.has(dep)) add(`${at}/dependsOn/${j}`, `${label} depends on missing "${dep}"`);
        seen.add(dep);
      });
    });
    if (problems.length === 0) {
      const cycle = findCycle(steps as { id: string; dependsOn?: string[] }[]);
      if (cycle) add('/steps', `cycle: ${cycle.join(' → ')}`);
    }
    return problems;
  }

  #pathProblem(path: string): string | undefined {
    try {
      this.#checkPath?.(path);
      return undefined;
    } catch (err) {
      if (err instanceof AppError) return `is not a usable path: ${err.message}`;
      throw err;
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function argPath(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') {
    return `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`;
  }
  if (e.keyword === 'required')
    return `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`;
  return e.instancePath;
}

/**
 * The first dependency cycle found, by depth-first search in step order, as `a → b → a` (a waits for
 * b, which waits for a); undefined when the plan is acyclic.
 */
export function findCycle(
  steps: readonly { id: string; dependsOn?: readonly string[] }[],
): string[] | undefined {
  const deps = new Map(steps.map((s) => [s.id, s.dependsOn ?? []]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of deps.get(id) ?? []) {
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const s of steps) {
    const found = visit(s.id);
    if (found) return found;
  }
  return undefined;
}

/** Every step that transitively depends on `id`. */
export function dependentsOf(plan: Plan, id: string): Set<string> {
  const out = new Set<string>();
  const frontier = [id];
  while (frontier.length > 0) {
    const current = frontier.pop() as string;
    for (const s of plan.steps) {
      if (s.dependsOn.includes(current) && !out.has(s.id)) {
        out.add(s.id);
        frontier.push(s.id);
      }
    }
  }
  return out;
}
