/**
 * Browser sessions for the dashboards (the call history page and its
 * recordings, FAQ-17). A browser cannot send a bearer header with an
 * `<audio>` request, so it signs in once and gets a session cookie: 32
 * random bytes, HttpOnly, SameSite=Strict, scoped to one path, kept only as
 * its SHA-256 (in process, or in Redis where the platform's processes share
 * it: DashboardStore), for 8 hours at most. Two instances: the operator's
 * (`ttma_dashboard`, /v1/admin/, signed in with the admin token) and the
 * deployments' (`ttma_customer`, /v1/dashboard/, signed in with a one-time
 * link, DashboardLinks); each session names its subject (the deployment).
 *
 * The operator's session only lets a browser READ: every admin route that
 * changes anything still wants the bearer token. Sign-in failures are
 * counted, and past MAX_FAILURES in a window sign-in is refused until the
 * window ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DashboardStore } from './store/DashboardStore.js';
import { MemoryDashboardStore } from './store/MemoryDashboardStore.js';

export const SESSION_COOKIE = 'ttma_dashboard';
export const SESSION_PATH = '/v1/admin/';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** The operator's sessions kept at once; the oldest goes first. */
const MAX_SESSIONS = 64;
/** Failed sign-ins allowed per window, all callers together (the listener is local). */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 60_000;

export interface DashboardSessionsOptions {
  /** Where sessions live (default: in this process); Redis shares them between platform processes. */
  store?: DashboardStore;
  now?: () => number;
  ttlMs?: number;
  /** The cookie's name and path (default: the operator's, ttma_dashboard on /v1/admin/). */
  cookieName?: string;
  path?: string;
  /** Sessions one subject keeps at once (default 64); past it its oldest ends. */
  maxPerSubject?: number;
}

export class DashboardSessions {
  readonly #store: DashboardStore;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #name: string;
  readonly #path: string;
  readonly #maxPerSubject: number;
  #failures: { windowStart: number; count: number } = { windowStart: 0, count: 0 };

  constructor(options: DashboardSessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#store = options.store ?? new MemoryDashboardStore({ now: this.#now });
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#name = options.cookieName ?? SESSION_COOKIE;
    this.#path = options.path ?? SESSION_PATH;
    this.#maxPerSubject = options.maxPerSubject ?? MAX_SESSIONS;
  }

  /** A new session for `subject`: the Set-Cookie value to send (the token itself is not kept). */
  async open(subject = ''): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#store.put(this.#name, digest(token), subject, this.#ttlMs, this.#maxPerSubject);
    return this.#cookie(token, Math.floor(this.#ttlMs / 1000));
  }

  /** The subject of the request's session when it carries exactly one live session cookie; null otherwise. */
  async subjectOf(req: IncomingMessage): Promise<string | null> {
    const token = sessionToken(req, this.#name);
    return token === null ? null : this.#store.get(this.#name, digest(token));
  }

  /** True when the request carries exactly one live session cookie. */
  async valid(req: IncomingMessage): Promise<boolean> {
    return (await this.subjectOf(req)) !== null;
  }

  /** Ends the request's session, if any; the Set-Cookie value that clears it. */
  async close(req: IncomingMessage): Promise<string> {
    const token = sessionToken(req, this.#name);
    if (token !== null) await this.#store.delete(this.#name, digest(token));
    return this.#cookie('', 0);
  }

  /** Every session of one subject ends (its secret was rotated, it was disabled). */
  revoke(subject: string): Promise<number> {
    return this.#store.revoke(this.#name, subject);
  }

  #cookie(value: string, maxAgeSec: number): string {
    // Not `Secure`: the platform serves plain HTTP on 127.0.0.1 (reached through an SSH forward or a TLS front).
    return `${this.#name}=${value}; Path=${this.#path}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict`;
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

/** The session cookie's value when the request has exactly one well-formed one; null otherwise. */
export function sessionToken(req: IncomingMessage, name = SESSION_COOKIE): string | null {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 8192) return null;
  let found: string | null = null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    // Two cookies of our name (one planted by a sibling path or host): trust neither.
    if (found !== null) return null;
    found = part.slice(eq + 1).trim();
  }
  if (found === null || !/^[A-Za-z0-9_-]{43}$/.test(found)) return null;
  return found;
}

