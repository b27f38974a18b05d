import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type http2 from 'node:http2';
import { type H1Client, h2request, type Reply, type RequestInit } from './clients.ts';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  /** The scopes the account was registered with (the cluster's DEFAULT_SCOPES). */
  scopes: string[];
  token: string;
}

/** Registers and logs in a fresh account (with the cluster's DEFAULT_SCOPES). */
export async function newUser(h1: H1Client, origin: string): Promise<TestUser> {
  const email = `ws-${randomBytes(6).toString('hex')}@example.com`;
  const password = 'workspace test password';
  const json = { 'content-type': 'application/json' };
  const reg = await h1.request(`${origin}/api/auth/register`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ email, password }),
  });
  assert.equal(reg.status, 201, reg.text());
  const login = await h1.request(`${origin}/api/auth/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ email, password }),
  });
  assert.equal(login.status, 200, login.text());
  return {
    id: reg.json().id as string,
    email,
    password,
    scopes: reg.json().scopes as string[],
    token: login.json().accessToken as string,
  };
}

/** An API caller: one user's bearer token on an HTTP/1.1 client. */
export class Api {
  readonly h1: H1Client;
  readonly origin: string;
  readonly token: string;
  constructor(h1: H1Client, origin: string, token: string) {
    this.h1 = h1;
    this.origin = origin;
    this.token = token;
  }

  request(path: string, init: RequestInit = {}): Promise<Reply> {
    return this.h1.request(`${this.origin}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${this.token}`, ...init.headers },
    });
  }

  /** Sends `body` as JSON; a string is sent as it is (malformed JSON included). */
  json(method: string, path: string, body: unknown): Promise<Reply> {
    return this.request(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  post(path: string, body: unknown): Promise<Reply> {
    return this.json('POST', path, body);
  }

  async createProject(name = `p-${randomBytes(3).toString('hex')}`): Promise<string> {
    const res = await this.json('POST', '/api/projects', { name });
    assert.equal(res.status, 201, res.text());
    return res.json().id as string;
  }

  /** A new project holding `files` (path → content), written in that order. */
  async projectWith(files: Record<string, string>): Promise<string> {
    const id = await this.createProject();
    for (const [path, content] of Object.entries(files)) {
      const res = await this.put(id, path, content);
      assert.ok(res.status === 200 || res.status === 201, `${path}: ${res.text()}`);
    }
    return id;
  }

  put(projectId: string, path: string, body: string | Buffer, headers: Record<string, string> = {}) {
    return this.request(`/api/projects/${projectId}/files/${path}`, { method: 'PUT', body, headers });
  }

  get(projectId: string, path: string, headers: Record<string, string> = {}) {
    return this.request(`/api/projects/${projectId}/files/${path}`, { headers });
  }
}

/** The worker id that answers on this HTTP/2 session (one session is one connection, one worker). */
export async function workerOf(session: http2.ClientHttp2Session): Promise<string> {
  return (await h2request(session, '/api/health')).json<{ worker: string }>().worker;
}

/** The worker id behind a single-connection HTTP/1.1 agent. */
export function workerOfAgent(origin: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${origin}/api/health`, { agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve((JSON.parse(text) as { worker: string }).worker));
      })
      .on('error', reject);
  });
}
