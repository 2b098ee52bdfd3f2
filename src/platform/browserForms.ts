/**
 * What both dashboards (the operator's, dashboardRoutes.ts, and a
 * deployment's, customerDashboard.ts) need to take form posts from a
 * browser safely: same-origin checks, the form body, redirects that set a
 * cookie, and pages sent with the strict CSP of historyPage.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, TtmaError } from '../errors.js';
import { HISTORY_PAGE_HEADERS } from './historyPage.js';
import { readBody, writeResponse } from './httpExchange.js';

/**
 * A browser names where a form post came from: it must be this page. A
 * client that sends neither header (curl) is not a browser another site can
 * drive, so it may post.
 */
export function requireSameOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new TtmaError(ErrorCodes.CROSS_SITE, 'cross-site form post refused', 403);
  }
  const origin = req.headers.origin;
  // The page's own origin: https through the public name (a TLS front), http on the loopback.
  const host = req.headers.host ?? '';
  if (origin !== undefined && origin !== `https://${host}` && origin !== `http://${host}`) {
    throw new TtmaError(ErrorCodes.CROSS_SITE, 'cross-origin form post refused', 403);
  }
}

const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;

/**
 * True when the browser reached us through a public name. The platform listens on 127.0.0.1 and
 * is reached from outside only through a TLS front (a reverse proxy or a tunnel: the gateway
 * takes a platform URL that is not https only on the loopback), so such a page is https and its
 * session cookie may be `Secure`; on a loopback address (an SSH forward) it is plain HTTP.
 */
export function servedOverTls(req: IncomingMessage): boolean {
  const host = req.headers.host;
  return typeof host === 'string' && host !== '' && !LOOPBACK_HOST.test(host);
}

/** A same-origin form post's fields (application/x-www-form-urlencoded only). */
export async function readForm(req: IncomingMessage, bodyTimeoutMs: number, what: string): Promise<URLSearchParams> {
  requireSameOrigin(req);
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `${what} takes the form (application/x-www-form-urlencoded)`, 415);
  }
  return new URLSearchParams((await readBody(req, bodyTimeoutMs)).toString('utf8'));
}

/** The one value of a form field, or null when it is missing or given more than once. */
export function oneField(form: URLSearchParams, name: string): string | null {
  const values = form.getAll(name);
  return values.length === 1 ? (values[0] ?? null) : null;
}

export function redirect(req: IncomingMessage, res: ServerResponse, location: string, setCookie?: string): void {
  writeResponse(req, res, 303, '', { location, ...(setCookie !== undefined ? { 'set-cookie': setCookie } : {}), 'content-type': 'text/plain; charset=utf-8' });
}

export function sendPage(req: IncomingMessage, res: ServerResponse, status: number, html: string): void {
  writeResponse(req, res, status, html, HISTORY_PAGE_HEADERS);
}
