import { one, type Queryable } from '../../db/pool.ts';

export const ROUTE_STATES_CHANNEL = 'ferrite_route_states';

export interface RouteStateRow {
  route: string;
  serve: 'ferrite' | 'legacy';
  reason: string;
  changed_by: string;
  changed_at: Date;
}

export async function listRouteStates(db: Queryable): Promise<RouteStateRow[]> {
  const { rows } = await db.query<RouteStateRow>(
    'SELECT route, serve, reason, changed_by, changed_at FROM route_states ORDER BY route',
  );
  return rows;
}

/**
 * The automatic rollback: sends the route to the legacy service unless some override is already
 * there (a rollback by another worker, or an operator's decision, stands). True when this call
 * made it.
 */
export async function rollBackOnce(
  db: Queryable,
  route: string,
  reason: string,
  by: string,
): Promise<boolean> {
  const row = await one<{ route: string }>(
    db,
    `WITH made AS (
       INSERT INTO route_states (route, serve, reason, changed_by) VALUES ($1, 'legacy', $2, $3)
       ON CONFLICT (route) DO NOTHING RETURNING route
     )
     SELECT route, pg_notify($4, route) FROM made`,
    [route, reason, by, ROUTE_STATES_CHANNEL],
  );
  return row !== undefined;
}

/** An operator's decision: the route served by `serve` until reset. */
export async function setRouteState(
  db: Queryable,
  route: string,
  serve: 'ferrite' | 'legacy',
  reason: string,
  by: string,
): Promise<void> {
  await db.query(
    `WITH made AS (
       INSERT INTO route_states (route, serve, reason, changed_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (route) DO UPDATE
         SET serve = EXCLUDED.serve, reason = EXCLUDED.reason, changed_by = EXCLUDED.changed_by, changed_at = now()
       RETURNING route
     )
     SELECT pg_notify($5, route) FROM made`,
    [route, serve, reason, by, ROUTE_STATES_CHANNEL],
  );
}

/** Back to the file's rule; true when there was an override. */
export async function clearRouteState(db: Queryable, route: string): Promise<boolean> {
  const row = await one<{ route: string }>(
    db,
    `WITH gone AS (DELETE FROM route_states WHERE route = $1 RETURNING route)
     SELECT route, pg_notify($2, route) FROM gone`,
    [route, ROUTE_STATES_CHANNEL],
  );
  return row !== undefined;
}
