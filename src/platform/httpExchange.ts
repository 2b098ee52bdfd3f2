/**
 * The platform's HTTP plumbing: a body is read whole, at most MAX_BODY_BYTES
 * and within a deadline, and must be one JSON object; an answer is JSON (or a
 * page) that is never cached or sniffed, and closes the connection when the
 * request's body was not read, so it cannot be parsed as the next request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError, type ErrorCode } from '../errors.js';

export type Json = Record<string, unknown>;

export const MAX_BODY_BYTES = 64 * 1024;

function tooLarge(): TtmaError {
  return new TtmaError(ErrorCodes.BODY_TOO_LARGE, `request body larger than ${MAX_BODY_BYTES} bytes`, 413);
}

/** The JSON object of the body; an empty body is `{}`. */
export async function readJsonObject(req: IncomingMessage, timeoutMs: number): Promise<Json> {
  const raw = await readBody(req, timeoutMs);
  if (raw.length === 0) return {};
  return parseJsonObject(raw, ErrorCodes.BAD_REQUEST);
}

/** Raw body, at most MAX_BODY_BYTES, within `timeoutMs`. */
export function readBody(req: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) {
    return Promise.reject(tooLarge());
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = (err: TtmaError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > MAX_BODY_BYTES) return finish(tooLarge());
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onError = (): void => finish(new TtmaError(ErrorCodes.BAD_REQUEST, 'request body aborted', 400));
    const timer = setTimeout(
      () => finish(new TtmaError(ErrorCodes.REQUEST_TIMEOUT, 'request body not received in time', 408)),
      timeoutMs,
    );
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJsonObject(raw: Buffer, code: ErrorCode): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new TtmaError(code, 'body is not valid JSON', 400);
  }
  if (!isObject(parsed)) throw new TtmaError(code, 'body must be a JSON object', 400);
  return parsed;
}

/** A header given once; repeated or absent gives undefined. */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  writeResponse(req, res, status, JSON.stringify(body), { 'content-type': 'application/json; charset=utf-8', ...headers });
}

/** `headers` carries the content type. A second answer to one request is dropped. */
export function writeResponse(req: IncomingMessage, res: ServerResponse, status: number, payload: string, headers: Record<string, string>): void {
  if (res.headersSent) return;
  const base: Record<string, string> = {
    'content-length': String(Buffer.byteLength(payload)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  };
  // A body we did not read must not be parsed as the next request.
  if (!req.complete) base['connection'] = 'close';
  res.writeHead(status, base);
  res.end(payload);
}
