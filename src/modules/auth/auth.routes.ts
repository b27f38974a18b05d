import type { Response } from 'express';
import type { TokenVerifier } from '../../http/auth.ts';
import { authenticate, caller } from '../../http/auth.ts';
import { jsonContent, type RouteSpec, route } from '../../http/route-spec.ts';
import { PASSWORD_LENGTH } from './auth.accounts.ts';
import type { AuthService } from './auth.service.ts';

const credentials = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    // Normalised (trimmed, lower-cased) and checked as an address by the service.
    // NUL cannot be stored in Postgres text; other characters are checked after trimming.
    email: { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^\\u0000]*$' },
    password: { type: 'string', minLength: PASSWORD_LENGTH.min, maxLength: PASSWORD_LENGTH.max },
  },
};

/** The register and login body, as `credentials` admits it. */
interface Credentials {
  email: string;
  password: string;
}

const refreshBody = {
  type: 'object',
  additionalProperties: false,
  required: ['refreshToken'],
  properties: { refreshToken: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } },
};

const tokenPair = {
  description: 'A new access token and refresh token',
  content: jsonContent({
    type: 'object',
    required: ['accessToken', 'tokenType', 'expiresIn', 'refreshToken'],
    properties: {
      accessToken: { type: 'string' },
      tokenType: { const: 'Bearer' },
      expiresIn: { type: 'integer', description: 'seconds' },
      refreshToken: { type: 'string' },
    },
  }),
};

const user = {
  type: 'object',
  required: ['id', 'email', 'scopes'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
  },
};

// Token responses must never be cached (RFC 6749 §5.1).
function sendTokens(res: Response, body: unknown): void {
  res.set('Cache-Control', 'no-store').json(body);
}

export function authRoutes(auth: AuthService, tokens: TokenVerifier): RouteSpec[] {
  return [
    route<unknown, Credentials>({
      method: 'post',
      path: '/api/auth/register',
      operationId: 'register',
      summary:
        'Create an account with the default scopes (403 when registration is off; limited per client IP)',
      tags: ['auth'],
      requestBody: { required: true, schema: credentials },
      responses: { 201: { description: 'Created', content: jsonContent(user) } },
      handler: async (req, res) => {
        res.status(201).json(await auth.register(req.body, req.ip ?? 'unknown'));
      },
    }),
    route<unknown, Credentials>({
      method: 'post',
      path: '/api/auth/login',
      operationId: 'login',
      summary: 'Exchange email and password for tokens; limited per client IP and per (email, client IP)',
      tags: ['auth'],
      requestBody: { required: true, schema: credentials },
      responses: { 200: tokenPair },
      handler: async (req, res) => {
        sendTokens(res, await auth.login(req.body, req.ip ?? 'unknown'));
      },
    }),
    route<unknown, { refreshToken: string }>({
      method: 'post',
      path: '/api/auth/refresh',
      operationId: 'refresh',
      summary: 'Rotate a refresh token (single use; reuse revokes its family)',
      tags: ['auth'],
      requestBody: { required: true, schema: refreshBody },
      responses: { 200: tokenPair },
      handler: async (req, res) => {
        sendTokens(res, await auth.refresh(req.body.refreshToken));
      },
    }),
    route<unknown, { refreshToken: string }>({
      method: 'post',
      path: '/api/auth/logout',
      operationId: 'logout',
      summary: "Revoke the refresh token's family",
      tags: ['auth'],
      requestBody: { required: true, schema: refreshBody },
      responses: { 204: { description: 'Logged out' } },
      handler: async (req, res) => {
        await auth.logout(req.body.refreshToken);
        res.status(204).end();
      },
    }),
    {
      method: 'get',
      path: '/api/auth/me',
      operationId: 'me',
      summary: 'The authenticated account',
      tags: ['auth'],
      security: [{ bearer: [] }],
      before: [authenticate(tokens)],
      responses: { 200: { description: 'The account', content: jsonContent(user) } },
      handler: async (req, res) => {
        res.json(await auth.me(caller(req).id));
      },
    },
  ];
}
