-- Blocks the miner found (validated later against the node) and the persisted stats series.

CREATE TABLE blocks (
  hash text PRIMARY KEY,
  height bigint NOT NULL,
  difficulty numeric,
  found_at timestamptz NOT NULL DEFAULT now(),
  validated_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);
-- Keyset pages of validated blocks, newest first.
CREATE INDEX blocks_validated_page ON blocks (height DESC, hash DESC) WHERE validated_at IS NOT NULL;
CREATE INDEX blocks_pending ON blocks (found_at) WHERE validated_at IS NULL;

CREATE TABLE stats_samples (
  at timestamptz NOT NULL,
  host text NOT NULL,
  hashrate double precision NOT NULL,
  accepted bigint NOT NULL,
  rejected bigint NOT NULL,
  stale bigint NOT NULL,
  gpus jsonb NOT NULL,
  PRIMARY KEY (at, host)
);
