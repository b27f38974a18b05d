import { z } from 'zod';
import { int, optionalString, optionalUrl } from './parsers.ts';

export const workflowKeys = {
  WORKFLOW_PLANNER: z
    .enum(['auto', 'rules', 'gemini'])
    .default('auto')
    .describe(
      'who turns prompts into plans: `rules` (the offline grammar), `gemini`, or `auto` (Gemini when `GEMINI_API_KEY` is set)',
    ),
  WORKFLOW_MAX_STEPS: int(50, 1, 1000).describe('most steps in one plan (400 `INVALID_PLAN` above)'),
  WORKFLOW_RUN_CONCURRENCY: int(4, 1, 256).describe('steps of one run executing at once'),
  WORKFLOW_WORKER_CONCURRENCY: int(16, 1, 1024).describe(
    'steps executing at once in one worker process, over all its runs',
  ),
  WORKFLOW_MAX_ACTIVE_RUNS: int(20, 1, 10_000).describe('queued or running runs per user (429 above)'),
  WORKFLOW_STEP_TIMEOUT_MS: int(120_000, 100).describe(
    'a step still running after this long is aborted and fails',
  ),
  WORKFLOW_LEASE_MS: int(30_000, 500).describe(
    'a run whose worker has not renewed its lease for this long is marked failed ("worker lost")',
  ),
  WORKFLOW_HEARTBEAT_MS: int(5000, 100).describe(
    'how often a worker renews the leases of its runs and checks for cancel requests; at most half the lease',
  ),
  WORKFLOW_SWEEP_INTERVAL_MS: int(5000, 100).describe(
    'how often each worker looks for runs with an expired lease',
  ),
  WORKFLOW_OUTPUT_MAX_BYTES: int(16_384, 256, 1_048_576).describe(
    'file content a `vfs.read` step records in its output (longer content is cut and marked `truncated`)',
  ),
  SEARCH_THREADS: int(2, 1, 64).describe('worker threads per worker process for `vfs.search` (piscina)'),
  SEARCH_TIMEOUT_MS: int(5000, 50).describe(
    'a search still running after this long is stopped (its thread is terminated) and the step fails',
  ),
  SEARCH_MAX_MATCHES: int(200, 1, 10_000).describe(
    'matches a search records before it stops (`truncated: true`)',
  ),
  GEMINI_API_KEY: optionalString.describe(
    'enables the Gemini planner and the `ai.generate` tool; unset: rule-based planning, and `ai.generate` is unavailable (400)',
  ),
  GEMINI_BASE_URL: optionalUrl(/^https?$/, 'http(s) URL').describe(
    "the Gemini API's base URL (`@google/genai` `httpOptions.baseUrl`); unset: Google's endpoint",
  ),
  GEMINI_MODEL: z
    .string()
    .min(1)
    .default('gemini-2.5-flash')
    .describe('the model used for plans and `ai.generate`'),
  GEMINI_TIMEOUT_MS: int(30_000, 100).describe(
    'one model call; then 504 `MODEL_TIMEOUT` (planning) or a failed step',
  ),
};

export const projectKeys = {
  VFS_MAX_FILE_BYTES: int(5_242_880, 1, 268_435_456).describe(
    'largest file (5 MB); a bigger upload gets 413 `PAYLOAD_TOO_LARGE`',
  ),
  VFS_QUOTA_BYTES: int(104_857_600, 1).describe(
    "sum of a project's file sizes (100 MB); a write past it gets 413 `QUOTA_EXCEEDED`",
  ),
  VFS_MAX_FILES: int(10_000, 1, 10_000_000).describe('files per project; one more gets 413 `QUOTA_EXCEEDED`'),
  VFS_MAX_PATH_BYTES: int(1024, 16, 4096).describe(
    'longest file path in UTF-8 bytes (each name at most 255); longer is 400 `INVALID_PATH`',
  ),
  VFS_MAX_PATH_DEPTH: int(32, 1, 256).describe('most path segments; deeper is 400 `INVALID_PATH`'),
  PROJECTS_MAX_PER_USER: int(100, 1, 1_000_000).describe(
    'projects one user may own; creating one more is 413 `QUOTA_EXCEEDED`',
  ),
  USER_QUOTA_BYTES: int(1_073_741_824, 1).describe(
    "sum of the file sizes of all of one user's projects (1 GiB); a write past it is 413 `QUOTA_EXCEEDED`",
  ),
  SSE_HEARTBEAT_MS: int(15_000, 50).describe(
    'a comment line on every event stream this often, so proxies and clients see it alive',
  ),
  SSE_RETRY_MS: int(2000, 0).describe('the `retry:` reconnection delay sent to event-stream clients'),
  SSE_MAX_BUFFER_BYTES: int(1_048_576, 1024).describe(
    'unsent bytes an event-stream client may fall behind by before it is disconnected (it resumes with `Last-Event-ID`)',
  ),
  EVENTS_RETAIN_PER_PROJECT: int(10_000, 100).describe('newest events kept per project for replay'),
  EVENTS_RETAIN_SECONDS: int(604_800, 0).describe(
    'events older than this (7 days) are deleted; `0` keeps them until the per-project limit',
  ),
};
