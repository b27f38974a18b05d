import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../src/errors.ts';
import { planFromRules } from '../src/modules/workflow/planner.rules.ts';
import type { SearchPool } from '../src/modules/workflow/search.pool.ts';
import { PlanValidator } from '../src/modules/workflow/workflow.plan.ts';
import { createTools, type VfsPort } from '../src/modules/workflow/workflow.tools.ts';
import { createStep } from './helpers/workflow.ts';

// The real tool catalogue (argument schemas and availability), without a model configured.
const tools = createTools({
  vfs: {} as VfsPort,
  search: {} as SearchPool,
  model: undefined,
  outputMaxBytes: 1024,
});
const validator = new PlanValidator(tools, 5);

function problems(plan: unknown): string[] {
  return validator.check(plan).map((p) => p.message);
}

function invalid(plan: unknown): AppError {
  try {
    validator.validate(plan);
  } catch (err) {
    assert.ok(err instanceof AppError);
    return err;
  }
  assert.fail('the plan was accepted');
}

const write = (id: string, dependsOn?: string[]) => ({
  id,
  tool: 'vfs.write',
  args: { path: `${id}.txt`, content: id },
  ...(dependsOn ? { dependsOn } : {}),
});

describe('plan validation', () => {
  it('accepts a DAG and defaults dependsOn to []', () => {
    const plan = validator.validate({ steps: [write('a'), write('b'), write('c', ['a', 'b'])] });
    assert.deepEqual(
      plan.steps.map((s) => [s.id, s.dependsOn]),
      [
        ['a', []],
        ['b', []],
        ['c', ['a', 'b']],
      ],
    );
  });

  it('answers INVALID_PLAN naming every problem, with a JSON pointer for each', () => {
    const err = invalid({
      steps: [
        { id: 's1', tool: 'vfs.frobnicate', args: {} },
        { id: 's2', tool: 'vfs.move', args: { from: 'a' } },
        { id: 's3', tool: 'vfs.read', args: { path: 'a' }, dependsOn: ['s9'] },
      ],
    });
    assert.equal(err.code, 'INVALID_PLAN');
    assert.equal(err.status, 400);
    const errors = (err.extensions as { errors: { path: string; message: string }[] }).errors;
    assert.deepEqual(
      errors.map((e) => e.message),
      [
        'unknown tool "vfs.frobnicate" in step "s1"',
        'step "s2" (vfs.move): args/to must have required property \'to\'',
        'step "s3" depends on missing "s9"',
      ],
    );
    assert.deepEqual(
      errors.map((e) => e.path),
      ['/plan/steps/0/tool', '/plan/steps/1/args/to', '/plan/steps/2/dependsOn/0'],
    );
    assert.match(err.message, /unknown tool "vfs.frobnicate" in step "s1"/);
  });

  it('names a cycle with the steps on it', () => {
    assert.deepEqual(problems({ steps: [write('a', ['b']), write('b', ['a'])] }), ['cycle: a → b → a']);
    assert.deepEqual(
      problems({ steps: [write('x'), write('a', ['c']), write('b', ['a']), write('c', ['b'])] }),
      ['cycle: a → c → b → a'],
    );
  });

  it('rejects arguments of the wrong type or not in the tool schema', () => {
    assert.deepEqual(
      problems({ steps: [{ id: 'w', tool: 'vfs.write', args: { path: 7, content: 'x', mode: 'fast' } }] }),
      [
        'step "w" (vfs.write): args/mode must NOT have additional properties',
        'step "w" (vfs.write): args/path must be string',
      ],
    );
    assert.deepEqual(problems({ steps: [{ id: 'q', tool: 'vfs.search', args: { query: '' } }] }), [
      'step "q" (vfs.search): args/query must NOT have fewer than 1 characters',
    ]);
  });

  it('rejects duplicate ids, self-dependencies, repeated dependencies and unknown members', () => {
    assert.deepEqual(
      problems({
        steps: [write('a'), write('a'), { ...write('b', ['b', 'a', 'a']), retries: 3 }],
        name: 'x',
      }),
      [
        'unknown plan member "name"',
        'duplicate step id "a"',
        'step "b": unknown member "retries"',
        'step "b" depends on itself',
        'step "b" lists "a" twice',
      ],
    );
  });

  it('bounds the number of steps and wants at least one', () => {
    assert.deepEqual(problems({ steps: [] }), ['a plan needs at least one step']);
    const six = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => write(id));
    assert.deepEqual(problems({ steps: six }), ['a plan may have at most 5 steps (this one has 6)']);
    assert.deepEqual(problems({ stages: [] }), ['a plan is an object with a "steps" array']);
    assert.deepEqual(problems([]), ['a plan is an object with a "steps" array']);
  });

  it('applies the path rule it is given to every path argument', () => {
    const strict = new PlanValidator(tools, 5, (path) => {
      if (path.includes('..'))
        throw new AppError('INVALID_PATH', { detail: 'The path must not contain "..".' });
    });
    assert.deepEqual(
      strict.check({
        steps: [
          { id: 'm', tool: 'vfs.move', args: { from: 'ok.txt', to: '../escape.txt' } },
          { id: 'r', tool: 'vfs.read', args: { path: 'ok.txt' } },
        ],
      }),
      [
        {
          in: 'body',
          path: '/plan/steps/0/args/to',
          message: 'step "m" (vfs.move): args/to is not a usable path: The path must not contain "..".',
        },
      ],
    );
  });

  it('says why ai.generate cannot be used without a model', () => {
    assert.deepEqual(
      problems({ steps: [{ id: 'g', tool: 'ai.generate', args: { prompt: 'hi', path: 'a.md' } }] }),
      ['tool "ai.generate" in step "g" is unavailable: GEMINI_API_KEY is not set'],
    );
  });
});

describe('the rule-based planner', () => {
  it('runs "and" clauses in parallel and makes "then" wait for the whole previous stage', () => {
    const plan = planFromRules(
      'create a.txt with hello world and create b.txt with "salt and pepper" then rename a.txt to c.txt and delete b.txt then search /h(e|a)llo/i',
    );
    assert.deepEqual(plan.steps, [
      createStep('s1', 'a.txt', 'hello world'),
      createStep('s2', 'b.txt', 'salt and pepper'),
      { id: 's3', tool: 'vfs.move', args: { from: 'a.txt', to: 'c.txt' }, dependsOn: ['s1', 's2'] },
      { id: 's4', tool: 'vfs.delete', args: { path: 'b.txt' }, dependsOn: ['s1', 's2'] },
      {
        id: 's5',
        tool: 'vfs.search',
        args: { query: 'h(e|a)llo', regex: true, ignoreCase: true },
        dependsOn: ['s3', 's4'],
      },
    ]);
    assert.deepEqual(validator.validate(plan), plan, 'its plans pass validation');
  });

  it('is deterministic', () => {
    const prompt = 'write x.md with one then read x.md and search for one';
    assert.deepEqual(planFromRules(prompt), planFromRules(prompt));
  });

  it('reads the other verbs, quoting, new lines and ";" as "then"', () => {
    assert.deepEqual(
      planFromRules("replace 'my notes.txt' with it's done\nread 'my notes.txt'; search \"then\"").steps,
      [
        { id: 's1', tool: 'vfs.write', args: { path: 'my notes.txt', content: "it's done" }, dependsOn: [] },
        { id: 's2', tool: 'vfs.read', args: { path: 'my notes.txt' }, dependsOn: ['s1'] },
        { id: 's3', tool: 'vfs.search', args: { query: 'then' }, dependsOn: ['s2'] },
      ],
    );
    assert.deepEqual(planFromRules('generate docs/intro.md: a short intro to ferrite').steps, [
      {
        id: 's1',
        tool: 'ai.generate',
        args: { prompt: 'a short intro to ferrite', path: 'docs/intro.md' },
        dependsOn: [],
      },
    ]);
    assert.deepEqual(planFromRules('create empty.txt').steps[0]?.args, {
      path: 'empty.txt',
      content: '',
      createOnly: true,
    });
  });

  it('answers INVALID_PROMPT with the grammar when it cannot read a clause', () => {
    for (const [prompt, reason] of [
      ['frobnicate x', 'unknown action "frobnicate"'],
      ['create a.txt with hi and', '"and" needs a clause on each side'],
      ['then delete a.txt', '"then" needs a clause on each side'],
      ['rename a.txt b.txt', 'expected "<from> to <to>"'],
      ['search /x/g', 'the only regex flag understood is "i"'],
      ['create "a.txt with hi', 'unterminated quote'],
      ['   ', 'the prompt is empty'],
    ] as const) {
      try {
        planFromRules(prompt);
        assert.fail(`accepted: ${prompt}`);
      } catch (err) {
        assert.ok(err instanceof AppError, String(err));
        assert.equal(err.code, 'INVALID_PROMPT');
        assert.ok(err.message.includes(reason), `${prompt}: ${err.message}`);
        assert.ok(Array.isArray(err.extensions?.grammar));
      }
    }
  });
});
