/**
 * The answers of one local operator request: JSON, `no-store`, and signed
 * (`x-ttma-local-mac`, src/wire/localAuth.ts) when the request named a nonce
 * this gateway process issued, so `ttma` can tell them from a squatter's.
 */
import { ErrorCodes, isTtmaError } from '../errors.js';
import { LOCAL_MAC_HEADER, type StreamedBody } from '../wire/localAuth.js';
import type { HttpResponse } from './uws.js';

const STATUS: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  429: '429 Too Many Requests',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

export type AnswerSigner = (status: number, body: Buffer | StreamedBody) => string;

export function platformCode(err: unknown): string {
  return isTtmaError(err) ? err.code : ErrorCodes.PLATFORM;
}

export class LocalReply {
  readonly res: HttpResponse;
  readonly #sign: AnswerSigner | null;

  constructor(res: HttpResponse, sign: AnswerSigner | null) {
    this.res = res;
    this.#sign = sign;
  }

  send(status: number, body: unknown): void {
    const known = STATUS[status] !== undefined;
    const code = known ? status : 500;
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    const mac = this.#sign?.(code, bytes);
    this.res.cork(() => {
      this.res.writeStatus(STATUS[code] ?? '500 Internal Server Error').writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
      if (mac !== undefined) this.res.writeHeader(LOCAL_MAC_HEADER, mac);
      this.res.end(bytes);
    });
  }

  refuse(status: number, code: string, message: string): void {
    this.send(status, { error: { code, message } });
  }

  /** A failure at the platform as a local route answers it: the platform's own code and status when it is one of ours, else 502. */
  refusePlatform(err: unknown, fallback: string): void {
    this.refuse(isTtmaError(err) && STATUS[err.status] && err.status !== 200 ? err.status : 502, platformCode(err), isTtmaError(err) ? err.message : fallback);
  }

  /** Headers of a streamed 200 (a recording): its MAC covers the type and declared length. */
  streamHeaders(contentType: string, length: number | null): Record<string, string> {
    const mac = this.#sign?.(200, { contentType, length });
    return { 'content-type': contentType, 'cache-control': 'no-store', ...(mac !== undefined ? { [LOCAL_MAC_HEADER]: mac } : {}) };
  }
}
