import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Scope } from '../config.ts';
import { AppError } from '../errors.ts';

/**
 * Authentication as every route sees it: who is calling (`caller`), the middleware that
 * establishes it (`authenticate`) and the scope checks (`requireScope`). Modules use these and
 * a `TokenVerifier`; how tokens are issued and verified is the auth module's business.
 */

/** The authenticated caller, from a verified access token. */
export interface AuthUser {
  id: string;
  scopes: string[];
  tokenId: string;
  /** When the access token expires (ms since the epoch): streams it opened end then. */
  expiresAt: number;
}

/** Verifies an access token; throws a 401 AppError when it is not valid. */
export interface TokenVerifier {
  verify(token: string): AuthUser;
  /**
   * Work owed before a verified caller's first request (a legacy service's user gets a ferrite
   * account); undefined when there is none, which is every request of ferrite's own tokens.
   */
  admit?(user: AuthUser): Promise<void> | undefined;
}

declare global {
  namespace Express {
    interface Request {
      user?: AuthUser;
    }
  }
}

/** A 401 with the challenge RFC 6750 asks for. */
export function unauthorized(detail: string): AppError {
  return new AppError('UNAUTHORIZED', {
    detail,
    headers: { 'WWW-Authenticate': 'Bearer realm="ferrite", error="invalid_token"' },
  });
}

// The scheme name is case-insensitive (RFC 9110 §11.1); the token is a JWT's base64url parts.
const BEARER = /^Bearer +([A-Za-z0-9_.=-]+)$/i;

/** The access token in `Authorization: Bearer <token>`, if the request carries one. */
export function bearerToken(req: { headers: IncomingHttpHeaders }): string | undefined {
  const header = req.headers.authorization;
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/** Requires `Authorization: Bearer <access token>`; sets the caller. */
export function authenticate(tokens: TokenVerifier) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const token = bearerToken(req);
    if (!token) {
      next(unauthorized('Send an access token as "Authorization: Bearer <token>".'));
      return;
    }
    const user = tokens.verify(token);
    req.user = user;
    const admitting = tokens.admit?.(user);
    if (admitting) admitting.then(() => next(), next);
    else next();
  };
}

export function hasScopes(granted: readonly string[], required: readonly Scope[]): boolean {
  return granted.includes('admin') || required.every((s) => granted.includes(s));
}

/** 403 unless the authenticated user holds every scope listed (admin holds all). */
export function requireScope(...required: Scope[]) {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!req.user) {
      next(unauthorized('Authentication required.'));
      return;
    }
    if (!hasScopes(req.user.scopes, required)) {
      next(
        new AppError('FORBIDDEN', {
          detail: `This requires the scope${required.length > 1 ? 's' : ''} ${required.join(', ')}.`,
          extensions: { requiredScopes: required },
        }),
      );
      return;
    }
    next();
  };
}

/** `authenticate`, then `requireScope(...scopes)`: the guard of a route that needs a caller. */
export function guard(tokens: TokenVerifier, ...scopes: Scope[]) {
  return [authenticate(tokens), requireScope(...scopes)];
}

/** The caller of a route behind `authenticate`; a 401 if the route forgot to authenticate. */
export function caller(req: { user?: AuthUser }): AuthUser {
  if (!req.user) throw unauthorized('Authentication required.');
  return req.user;
}
