/** IPC message types between the primary and its workers. */
export const METRICS_REQUEST = 'ferrite:metrics-request';
export const METRICS_RESPONSE = 'ferrite:metrics-response';
export const WORKER_READY = 'ferrite:ready';
export const WORKER_SHUTDOWN = 'ferrite:shutdown';
