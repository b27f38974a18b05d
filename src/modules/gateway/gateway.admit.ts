// A request on a gateway or legacy route, checked against the existing service's contract
// (LEGACY_OPENAPI_FILE) before it is forwarded: the same 400 problem naming each field that
// ferrite's own routes answer, so a client cannot tell who refused it.
import express, { type Request, type Response } from 'express';
import { AppError } from '../../errors.ts';
import { type Violation, validationFailed } from '../../http/validation.ts';
import { header } from './gateway.answers.ts';
import type { Contract } from './gateway.contract.ts';
import { hasBody } from './gateway.headers.ts';

/**
 * `admit(req, res, path)` resolves to the body to forward in place of the request's stream (a
 * body it read and checked, decoded), or undefined (nothing read: forward as sent), and throws
 * the problem for a request the contract refuses. Bodies are read up to `limit` bytes.
 */
export function contractAdmission(contract: Contract, limit: number) {
  // raw-body through express: the limit, content codings and aborted uploads as for ferrite's own.
  const raw = express.raw({ limit, type: () => true });
  const read = (req: Request, res: Response) =>
    new Promise<Buffer>((resolve, reject) =>
      raw(req, res, (err?: unknown) =>
        err ? reject(err) : resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)),
      ),
    );

  return async function admit(req: Request, res: Response, path: string): Promise<Buffer | undefined> {
    const match = contract.find(req.method, path);
    if (!match) return undefined;
    const found: Violation[] = contract.checkParameters(
      match,
      req.query as Record<string, unknown>,
      req.headers as Record<string, unknown>,
    );
    let forward: Buffer | undefined;
    let bodyless = !hasBody(req);
    if (!bodyless) {
      const type = header(req.headers['content-type']).split(';')[0]?.trim() ?? '';
      const rule = contract.bodyRule(match, type);
      // An HTTP/2 request may announce a body that turns out empty; an untyped one is read to know.
      if (rule.kind === 'json' || (rule.kind === 'unsupported' && type === '')) {
        forward = await read(req, res);
        bodyless = forward.length === 0;
      }
      if (!bodyless && rule.kind === 'unsupported') {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', {
          detail: `${req.method} ${match.op.template} takes ${contract.bodyTypes(match).join(', ')}, not ${type || 'an untyped body'}.`,
        });
      }
      if (!bodyless && rule.kind === 'json' && rule.check && forward) {
        let body: unknown;
        try {
          body = JSON.parse(forward.toString('utf8'));
        } catch (err) {
          throw new AppError('MALFORMED_JSON', { detail: 'The request body is not valid JSON.', cause: err });
        }
        // The handlers of ferrite's own routes, and the capture, read the parsed body here.
        req.body = body;
        found.push(...contract.bodyViolations(rule.check, body));
      }
    }
    if (bodyless && contract.bodyRequired(match)) {
      found.push({ in: 'body', path: '/', message: 'a body is required' });
    }
    if (found.length > 0) throw validationFailed(found);
    return forward;
  };
}
