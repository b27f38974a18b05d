// OpenAPI schemas of the workflow routes. Plans are described here in full but checked by
// PlanValidator, which names each problem (unknown tool, missing dependency, cycle).

const uuid = { type: 'string', format: 'uuid' };
const nullableTime = { type: ['string', 'null'], format: 'date-time' };

export const planStep = {
  type: 'object',
  required: ['id', 'tool', 'args'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
    tool: {
      type: 'string',
      enum: ['vfs.read', 'vfs.write', 'vfs.delete', 'vfs.move', 'vfs.search', 'ai.generate'],
    },
    args: { type: 'object' },
    dependsOn: { type: 'array', items: { type: 'string' } },
  },
};

export const plan = {
  type: 'object',
  required: ['steps'],
  properties: { steps: { type: 'array', items: planStep } },
};

export const prompt = { type: 'string', minLength: 1, maxLength: 20_000 };

export const planRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['projectId', 'prompt'],
  properties: { projectId: uuid, prompt },
};

export const runRequest = {
  type: 'object',
  additionalProperties: false,
  required: ['projectId'],
  description: 'Exactly one of plan and prompt.',
  properties: {
    projectId: uuid,
    // Any object here: the plan validator answers INVALID_PLAN with every problem named.
    plan: { type: 'object', description: 'A plan as /api/workflow/plan returns it' },
    prompt,
  },
};

const runStatus = { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] };

const runProperties = {
  id: uuid,
  projectId: uuid,
  status: runStatus,
  reason: { type: ['string', 'null'] },
  planner: { type: 'string', enum: ['user', 'rules', 'gemini'] },
  prompt: { type: ['string', 'null'] },
  createdAt: { type: 'string', format: 'date-time' },
  startedAt: nullableTime,
  finishedAt: nullableTime,
  cancelRequestedAt: nullableTime,
};

export const runSummary = {
  type: 'object',
  required: Object.keys(runProperties),
  properties: runProperties,
};

export const run = {
  type: 'object',
  required: [...Object.keys(runProperties), 'steps'],
  properties: {
    ...runProperties,
    steps: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'tool', 'args', 'dependsOn', 'status', 'output', 'error', 'startedAt', 'finishedAt'],
        properties: {
          id: { type: 'string' },
          tool: { type: 'string' },
          args: { type: 'object' },
          dependsOn: { type: 'array', items: { type: 'string' } },
          status: {
            type: 'string',
            enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'],
          },
          output: { type: ['object', 'null'] },
          error: { type: ['string', 'null'] },
          startedAt: nullableTime,
          finishedAt: nullableTime,
          durationMs: { type: ['integer', 'null'] },
        },
      },
    },
  },
};

export const runPage = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: runSummary }, nextCursor: { type: ['string', 'null'] } },
};

export const runAccepted = {
  type: 'object',
  required: ['runId'],
  properties: { runId: uuid },
};

export const cancelReply = {
  type: 'object',
  required: ['runId', 'status'],
  properties: { runId: uuid, status: runStatus },
};

export const catalog = {
  type: 'object',
  required: ['planner', 'tools', 'grammar'],
  properties: {
    planner: { type: 'string', enum: ['rules', 'gemini'] },
    tools: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'description', 'args', 'available'],
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          args: { type: 'object' },
          available: { type: 'boolean' },
          unavailableReason: { type: 'string' },
        },
      },
    },
    grammar: { type: 'array', items: { type: 'string' } },
  },
};
