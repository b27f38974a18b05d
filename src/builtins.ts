/**
 * `node:http` and `node:https` for ES modules, without the ~16 MB an `import` of them costs.
 *
 * An ES `import` of a built-in reads every property of its exports to build the module's
 * namespace; `node:http`'s include lazy getters (`WebSocket`, `CloseEvent`, `MessageEvent`) that
 * load node's bundled undici, ~16 MB resident in every process that does it (measured on Node 26:
 * 46 MB after `process.getBuiltinModule('node:http')`, 63 MB after `import 'node:http'`).
 * `process.getBuiltinModule` hands over the module object as `require` would, getters untouched.
 * `import type` from 'node:http' stays free: types are erased.
 */
export const http = process.getBuiltinModule('node:http');
export const https = process.getBuiltinModule('node:https');
