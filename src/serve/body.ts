/**
 * Reading a request body under the service's limits: a declared Content-Length over the limit is
 * refused before a byte is read (413), a body that grows past it is cut off (413), a body that
 * has not fully arrived within the body timeout is refused (408, slow or stalled clients), and a
 * connection that breaks mid-body ends the request without an answer. The text must be UTF-8
 * (400 otherwise).
 */
import type * as http from 'node:http';
import { ClientGoneError, HttpError, limitError } from './http-error.js';
import { formatBytes } from './limits.js';

export interface BodyLimits {
  maxBody: number;
  bodyTimeoutMs: number;
}

/** Refuses a request whose declared Content-Length is over the limit (before reading it). */
export function checkDeclaredLength(req: http.IncomingMessage, limits: BodyLimits): void {
  const declared = req.headers['content-length'];
  if (declared === undefined) return;
  const n = Number(declared);
  if (!/^\d+$/.test(declared) || !Number.isSafeInteger(n)) throw new HttpError(400, `Content-Length: expected a whole number of bytes, got '${declared}'`);
  if (n > limits.maxBody) {
    throw limitError(413, 'max-body', limits.maxBody,
      `request body of ${n} bytes is larger than the limit of ${formatBytes(limits.maxBody)} (server flag --max-body); send fewer points per request`);
  }
}

/** Reads the whole body as bytes; see the file comment for the errors. */
export function readBody(req: http.IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  checkDeclaredLength(req, limits);
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | null, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        // Stop reading: the rest of an oversized or stalled body is not wanted.
        req.pause();
        reject(err);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBody) {
        finish(limitError(413, 'max-body', limits.maxBody,
          `request body is larger than the limit of ${formatBytes(limits.maxBody)} (server flag --max-body); send fewer points per request`));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => finish(null, Buffer.concat(parts, size));
    const onError = () => finish(new ClientGoneError('the connection broke while the request body was being read'));
    const onClose = () => {
      if (!req.complete) finish(new ClientGoneError('the client closed the connection before sending the whole body'));
    };
    const timer = setTimeout(() => {
      finish(limitError(408, 'body-timeout-ms', limits.bodyTimeoutMs,
        `the request body did not arrive within ${limits.bodyTimeoutMs} ms (server flag --body-timeout-ms; got ${size} bytes so far)`));
    }, limits.bodyTimeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text; invalid UTF-8 is a 400 (a binary upload or another encoding). */
export function bodyText(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new HttpError(400, 'request body is not valid UTF-8 text; send JSON or CSV encoded as UTF-8');
  }
}
