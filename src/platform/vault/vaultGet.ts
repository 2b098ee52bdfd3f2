/**
 * One GET to the metadata server or Secret Manager, bounded in size and in
 * time: the whole exchange (connect, headers, body) must end by `deadline`
 * (a Date.now() value the fetch's two requests share). No redirects are
 * followed (a 3xx is an answer like any other). Not getting an answer at all
 * is TTMA_ERR_VAULT_UNREACHABLE.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCodes, TtmaError } from '../../errors.js';
import { readAnswerBody } from '../../wire/readAnswerBody.js';

/** Tokens and secret payloads (at most 64 KiB, base64) are small; anything bigger is not one. */
const MAX_ANSWER_BYTES = 128 * 1024;

export interface VaultAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export async function vaultGet(url: URL, headers: Record<string, string>, deadline: number, what: string): Promise<VaultAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const budgetMs = Math.max(0, deadline - Date.now());
  let timedOut = false;
  try {
    return await new Promise<VaultAnswer>((resolve, reject) => {
      const req = send(url, { method: 'GET', headers, agent: false }, (res) => {
        readAnswerBody(res, MAX_ANSWER_BYTES).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error('timeout'));
      }, budgetMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', reject);
      req.end();
    });
  } catch (cause) {
    const why = timedOut ? `no answer within the vault timeout (${budgetMs} ms left)` : cause instanceof Error ? cause.message : String(cause);
    throw new TtmaError(ErrorCodes.VAULT_UNREACHABLE, `${what}: ${why}`, 503, { cause });
  }
}
