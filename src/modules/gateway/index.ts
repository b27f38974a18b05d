// The gateway module's door: ferrite's proxied routes (/v1/task, /v1/trade) with scopes,
// retries and breakers; the legacy passthrough; shadow sampling; the capture of real traffic and
// its replay against two services (`npm run replay`); the existing service's contract
// (LEGACY_OPENAPI_FILE), checked on the way in and in the shadow and the replay.

export { Contract, ContractFileError } from './gateway.contract.ts';
export { type ReplayOptions, type ReplayOutcome, replayRecord } from './gateway.replay.ts';
export { createGateway, type GatewayDeps } from './gateway.routes.ts';
