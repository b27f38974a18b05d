// The token scopes, apart from the schema so that the serving side reads them without zod.
/** Every scope a token can carry; `admin` implies all others. */
export const SCOPES = [
  'admin',
  'miner:read',
  'miner:control',
  'node:rpc',
  'task:read',
  'task:write',
  'trade:read',
  'trade:write',
  'projects:read',
  'projects:write',
] as const;
export type Scope = (typeof SCOPES)[number];
