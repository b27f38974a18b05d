// The gateway module's door: ferrite's proxied routes (/v1/task, /v1/trade) with scopes,
// retries and breakers; the legacy passthrough; and shadow sampling.
export { createGateway, type GatewayDeps } from './gateway.routes.ts';
