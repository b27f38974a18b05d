-- The miner's state changes (issue 18), one row per change the supervisor reports, written by
-- each host's recorder: the operator dashboard draws them on the stats history.
CREATE TABLE miner_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  host text NOT NULL,
  state text NOT NULL,
  restarts integer NOT NULL,
  exit_code integer,
  exit_signal text
);
CREATE INDEX miner_events_at ON miner_events (at);
-- The history and the blocks export select found blocks by a window on found_at.
CREATE INDEX blocks_found_at ON blocks (found_at);
