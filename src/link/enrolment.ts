/**
 * The agent endpoint's plain HTTPS requests: `GET /ca` serves the CA certificate (agents pin it
 * against the hash in their join token) and `POST /enrol` spends a join token and signs the
 * agent's CSR. Errors are answered by the REST API's own mapping (src/api/error-response.ts):
 * the same JSON shape, and a message only where the error is expected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { EnrolRequest } from '../api/agent.js';
import { ControllerError, ValidationError } from '../api/errors.js';
import { errorResponse } from '../api/error-response.js';
import type { Validator } from '../api/validate.js';
import type { CertManager } from '../certs/index.js';

/** Largest enrolment body. */
const MAX_BODY = 64 * 1024;

export interface EnrolmentOptions {
  certs: CertManager;
  validator: Validator;
  log: Logger;
}

function reply(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ControllerError('PAYLOAD_TOO_LARGE', 413, 'enrolment body over 64 KiB');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ControllerError('BAD_JSON', 400, 'the body is not JSON');
  }
}

/** The request handler of the agent endpoint (everything but the WebSocket upgrade). */
export function enrolmentHandler({
  certs,
  validator,
  log,
}: EnrolmentOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET' && req.url === '/ca') return reply(res, 200, certs.caCert, 'application/x-pem-file');
    if (req.method === 'POST' && req.url === '/enrol') {
      const body = await readJson(req);
      const problems = validator.problems(EnrolRequest, body, '/body');
      if (problems.length) throw new ValidationError(problems, 'enrolment request validation failed');
      const { token, csr } = body as EnrolRequest;
      const node = certs.consumeJoinToken(token);
      const issued = await certs.issueAgent(csr, node);
      log.info({ node, serial: issued.serial }, 'agent enrolled');
      return reply(res, 200, { node, cert: issued.cert, ca: certs.caCert });
    }
    throw new ControllerError('NOT_FOUND', 404, `${req.method ?? ''} ${req.url ?? ''} is not served here`);
  };
  return async (req, res) => {
    try {
      await serve(req, res);
    } catch (err) {
      const r = errorResponse(err);
      if (r.log) log.error({ err }, 'agent endpoint failed');
      else log.warn({ code: r.body.error.code }, 'enrolment refused');
      reply(res, r.status, r.body);
    }
  };
}
