-- Workflow runs and their steps. The worker executing a run holds a lease on it (`owner`,
-- `lease_expires_at`) that it renews while alive; any worker's sweeper fails runs whose lease
-- ran out, so a run never stays "running" after its worker died.

CREATE TABLE workflow_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  reason text,
  prompt text,
  planner text NOT NULL CHECK (planner IN ('user', 'rules', 'gemini')),
  plan jsonb NOT NULL,
  owner text,
  lease_expires_at timestamptz,
  cancel_requested_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
-- The sweeper's scan: only unfinished runs, by lease expiry.
CREATE INDEX workflow_runs_active ON workflow_runs (lease_expires_at) WHERE status IN ('queued', 'running');
-- A project's runs, newest first, in keyset pages.
CREATE INDEX workflow_runs_project_page ON workflow_runs (project_id, created_at DESC, id DESC);
-- Counting a user's unfinished runs (WORKFLOW_MAX_ACTIVE_RUNS).
CREATE INDEX workflow_runs_user_active ON workflow_runs (user_id) WHERE status IN ('queued', 'running');

-- Timestamps come from clock_timestamp() on the database, one clock for every worker and host.
CREATE TABLE workflow_steps (
  run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
  step_id text NOT NULL,
  position integer NOT NULL,
  tool text NOT NULL,
  args jsonb NOT NULL,
  depends_on text[] NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
  output jsonb,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (run_id, step_id)
);
