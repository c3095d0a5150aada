/**
 * Requests that Node's HTTP parser refuses never reach Koa: a header block over the limit, a bad
 * Content-Length, bytes that are not HTTP. Node's default answer has an empty body; with a
 * `clientError` listener the answer is ours, so it carries the same `{ error: { code, message } }`
 * shape as every other error, and the connection is closed.
 */
import { maxHeaderSize, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from './errors.js';

interface ParserError extends Error {
  code?: string;
}

/** Status, code and message for a parser error (the statuses are the ones Node itself would send). */
function describe(err: ParserError, headerLimit: number): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'HEADERS_TOO_LARGE', message: `request headers over ${headerLimit} bytes` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'chunk extensions too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, code: 'BAD_REQUEST', message: 'invalid Content-Length header' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: 400, code: 'BAD_REQUEST', message: 'invalid Transfer-Encoding header' };
    default:
      return { status: 400, code: 'BAD_REQUEST', message: 'malformed HTTP request' };
  }
}

/** Answers parser errors on `server` with a JSON body. */
export function handleClientErrors(server: Server): void {
  server.on('clientError', (err: ParserError, socket: Duplex) => {
    // A connection reset or a socket already closed cannot take an answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const headerLimit = (server as Server & { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize;
    const d = describe(err, headerLimit);
    const body = JSON.stringify(errorBody(d.code, d.message, { details: { parserCode: err.code ?? 'unknown' } }));
    socket.end(
      `HTTP/1.1 ${d.status} ${STATUS_CODES[d.status] ?? ''}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
