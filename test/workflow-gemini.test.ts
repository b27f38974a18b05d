import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../src/errors.ts';
import { GeminiModel, GeminiPlanner } from '../src/modules/workflow/planner.gemini.ts';
import type { SearchPool } from '../src/modules/workflow/search.pool.ts';
import { createTools, type VfsPort } from '../src/modules/workflow/workflow.tools.ts';
import { GeminiStub } from './helpers/gemini-stub.ts';

const stub = new GeminiStub();
let model: GeminiModel;

before(async () => {
  await stub.start();
  model = new GeminiModel({ apiKey: 'test-key', baseUrl: stub.url, model: 'gemini-test', timeoutMs: 500 });
});
after(async () => {
  stub.release('never'); // nothing may stay held
  await stub.close();
});

function appError(code: string, detail: RegExp) {
  return (err: unknown) => err instanceof AppError && err.code === code && detail.test(err.message);
}

describe('Gemini through @google/genai (against the local stub)', () => {
  it('generates text with the configured model, key and base URL', async () => {
    assert.equal(await model.generate('a haiku'), 'Generated: a haiku');
    const req = stub.requests.at(-1);
    assert.equal(req?.path, '/v1/models/gemini-test:generateContent');
    assert.equal(req?.apiKey, 'test-key');
    assert.equal(req?.json, false);
  });

  it('plans with a JSON response schema, a system prompt listing the tools and files, and returns the parsed plan', async () => {
    const plan = { steps: [{ id: 's1', tool: 'vfs.delete', args: { path: 'old.txt' }, dependsOn: [] }] };
    stub.planFor('tidy up', plan);
    const tools = createTools({ vfs: {} as VfsPort, search: {} as SearchPool, model, outputMaxBytes: 1024 });
    const planner = new GeminiPlanner(model);
    assert.deepEqual(await planner.plan('tidy up', { tools, files: ['old.txt', 'keep.md'] }), plan);
    const req = stub.requests.at(-1);
    assert.equal(req?.json, true);
    const system = req?.body.systemInstruction?.parts?.map((p) => p.text).join('') ?? '';
    for (const name of ['vfs.read', 'vfs.write', 'vfs.delete', 'vfs.move', 'vfs.search', 'ai.generate']) {
      assert.ok(system.includes(`- ${name}:`), `the system prompt describes ${name}`);
    }
    assert.match(system, /old\.txt, keep\.md/);
    const schema = req?.body.generationConfig?.responseSchema as { properties: { steps: { type: string } } };
    assert.equal(schema.properties.steps.type, 'ARRAY');
  });

  it('turns an HTTP error into MODEL_UNAVAILABLE', async () => {
    await assert.rejects(model.generate('[fail] anything'), appError('MODEL_UNAVAILABLE', /HTTP 500/));
  });

  it('turns an answer without text into MODEL_UNAVAILABLE naming the finish reason', async () => {
    await assert.rejects(
      model.generate('[empty] anything'),
      appError('MODEL_UNAVAILABLE', /no text \(SAFETY\)/),
    );
  });

  it('turns a JSON answer that is not JSON into MODEL_UNAVAILABLE', async () => {
    await assert.rejects(
      model.json('[not-json] plan it', 'system', { type: 'OBJECT' as never }),
      appError('MODEL_UNAVAILABLE', /not JSON: Sure! Here is your plan/),
    );
  });

  it('gives up after its timeout with MODEL_TIMEOUT', async () => {
    await assert.rejects(model.generate('[hold:never] slow'), appError('MODEL_TIMEOUT', /within 500 ms/));
  });

  it('stops at once when the caller aborts (a cancelled step), without calling it a model failure', async () => {
    const ac = new AbortController();
    const pending = model.generate('[hold:never] cancelled', ac.signal);
    await stub.waitForHeld('never');
    ac.abort(new Error('cancelled'));
    await assert.rejects(pending, (err: unknown) => !(err instanceof AppError));
  });
});
