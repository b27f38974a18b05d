-- Cut-over overrides (issue 15): a route of the ROUTES_FILE rolled back to the legacy service
-- (automatically or by an operator) or promoted to ferrite. No row: the file's rule applies.
-- Shared by every worker and host; changes are announced on the `ferrite_route_states` channel.
CREATE TABLE route_states (
  route text PRIMARY KEY,
  serve text NOT NULL CHECK (serve IN ('ferrite', 'legacy')),
  reason text NOT NULL,
  changed_by text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);
