/**
 * Browser sessions for the operator's dashboard (the call history page and
 * its recordings, FAQ-17). A browser cannot send the admin token as a bearer
 * header with an `<audio>` request, so the operator signs in once with it and
 * gets a session cookie: 32 random bytes, HttpOnly, SameSite=Strict, scoped to
 * /v1/admin/, kept here only as its SHA-256, for 8 hours at most.
 *
 * A session only lets a browser READ (the page and recordings): every route
 * that changes anything still wants the bearer token, so a cross-site request
 * riding on the cookie can change nothing. Sign-in failures are counted, and
 * past MAX_FAILURES in a window sign-in is refused until the window ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'ttma_dashboard';
export const SESSION_PATH = '/v1/admin/';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** Sessions kept at once; the oldest goes first. */
const MAX_SESSIONS = 64;
/** Failed sign-ins allowed per window, all callers together (the listener is local). */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 60_000;

export interface DashboardSessionsOptions {
  now?: () => number;
  ttlMs?: number;
}

export class DashboardSessions {
  readonly #now: () => number;
  readonly #ttlMs: number;
  /** SHA-256 (hex) of a session token -> when it expires (ms). */
  readonly #sessions = new Map<string, number>();
  #failures: { windowStart: number; count: number } = { windowStart: 0, count: 0 };

  constructor(options: DashboardSessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  }

  /** A new session: the Set-Cookie value to send (the token itself is not kept). */
  open(): string {
    const token = randomBytes(32).toString('base64url');
    this.#sessions.set(digest(token), this.#now() + this.#ttlMs);
    while (this.#sessions.size > MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value as string);
    return cookie(token, Math.floor(this.#ttlMs / 1000));
  }

  /** True when the request carries exactly one live session cookie. */
  valid(req: IncomingMessage): boolean {
    const token = sessionToken(req);
    if (token === null) return false;
    const key = digest(token);
    const expires = this.#sessions.get(key);
    if (expires === undefined) return false;
    if (expires <= this.#now()) {
      this.#sessions.delete(key);
      return false;
    }
    return true;
  }

  /** Ends the request's session, if any; the Set-Cookie value that clears it. */
  close(req: IncomingMessage): string {
    const token = sessionToken(req);
    if (token !== null) this.#sessions.delete(digest(token));
    return cookie('', 0);
  }

  /** Every session ends (the admin token changed hands, or the platform stops). */
  clear(): void {
    this.#sessions.clear();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** False while sign-in is locked out by too many failures in the window. */
  mayTry(): boolean {
    this.#roll();
    return this.#failures.count < MAX_FAILURES;
  }

  failed(): void {
    this.#roll();
    this.#failures.count += 1;
  }

  /** Seconds until sign-in is open again (for Retry-After). */
  retryAfterSec(): number {
    return Math.max(1, Math.ceil((this.#failures.windowStart + FAILURE_WINDOW_MS - this.#now()) / 1000));
  }

  #roll(): void {
    const now = this.#now();
    if (now - this.#failures.windowStart >= FAILURE_WINDOW_MS) this.#failures = { windowStart: now, count: 0 };
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function cookie(value: string, maxAgeSec: number): string {
  // Not `Secure`: the platform serves plain HTTP on 127.0.0.1 (reached through an SSH forward).
  return `${SESSION_COOKIE}=${value}; Path=${SESSION_PATH}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict`;
}

/** The session cookie's value when the request has exactly one well-formed one; null otherwise. */
export function sessionToken(req: IncomingMessage): string | null {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return null;
  let found: string | null = null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    // Two cookies of our name (one planted by a sibling path or host): trust neither.
    if (found !== null) return null;
    found = part.slice(eq + 1).trim();
  }
  if (found === null || !/^[A-Za-z0-9_-]{43}$/.test(found)) return null;
  return found;
}

