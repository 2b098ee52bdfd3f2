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
 * Each session is also tagged with what it was opened under (the operator's:
 * a digest of the admin token, `tag`; a deployment's: of its agent secret's
 * digest, customerDashboard.ts), checked on every request: a replaced admin
 * token or a rotated secret ends every session opened before, whatever became
 * of the revocation that also runs then (a sign-in in flight at the rotation,
 * a store that failed the revoke). The cookie is `Secure` when the request
 * came through a public name (the platform is reached from outside only over
 * TLS: a reverse proxy or tunnel), not when it came to a loopback address.
 *
 * The operator's session only lets a browser READ: every admin route that
 * changes anything still wants the bearer token. Sign-in failures are
 * counted, and past MAX_FAILURES in a window sign-in is refused until the
 * window ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { servedOverTls } from './browserForms.js';
import type { DashboardStore, TaggedEntry } from './store/DashboardStore.js';
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
  /** What every session is opened under and must still match (the operator's: a digest of the admin token). */
  tag?: string;
}

/** A tag for a secret's digest: 32 hex digits of its own digest (what the store holds says nothing usable about the secret). */
export function sessionTag(secretDigest: Buffer): string {
  return createHash('sha256').update('ttma-session-tag\n').update(secretDigest).digest('hex').slice(0, 32);
}

export class DashboardSessions {
  readonly #store: DashboardStore;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #name: string;
  readonly #path: string;
  readonly #maxPerSubject: number;
  readonly #tag: string;
  #failures: { windowStart: number; count: number } = { windowStart: 0, count: 0 };

  constructor(options: DashboardSessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#store = options.store ?? new MemoryDashboardStore({ now: this.#now });
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#name = options.cookieName ?? SESSION_COOKIE;
    this.#path = options.path ?? SESSION_PATH;
    this.#maxPerSubject = options.maxPerSubject ?? MAX_SESSIONS;
    this.#tag = options.tag ?? '';
  }

  /**
   * A new session for `subject`, tagged `tag` (default: this instance's), for the browser that sent
   * `req`: the Set-Cookie value to send (the token itself is not kept).
   */
  async open(req: IncomingMessage | null, subject = '', tag = this.#tag): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#store.put(this.#name, digest(token), subject, this.#ttlMs, this.#maxPerSubject, tag);
    return this.#cookie(token, Math.floor(this.#ttlMs / 1000), req !== null && servedOverTls(req));
  }

  /** The subject and tag of the request's session when it carries exactly one live session cookie; null otherwise. */
  async entryOf(req: IncomingMessage): Promise<TaggedEntry | null> {
    const token = sessionToken(req, this.#name);
    return token === null ? null : this.#store.getTagged(this.#name, digest(token));
  }

  /** The subject of the request's session (whatever its tag); null without one. */
  async subjectOf(req: IncomingMessage): Promise<string | null> {
    return (await this.entryOf(req))?.subject ?? null;
  }

  /** True when the request carries exactly one live session cookie, opened under this instance's tag. */
  async valid(req: IncomingMessage): Promise<boolean> {
    return (await this.entryOf(req))?.tag === this.#tag;
  }

  /**
   * Ends the request's session: every well-formed cookie of our name it carries (with a second one
   * planted beside it, the real one still ends); the Set-Cookie value that clears it.
   */
  async close(req: IncomingMessage): Promise<string> {
    for (const token of sessionTokens(req, this.#name)) await this.#store.delete(this.#name, digest(token));
    return this.#cookie('', 0, servedOverTls(req));
  }

  /** Every session of one subject ends (its secret was rotated, it was disabled). */
  revoke(subject: string): Promise<number> {
    return this.#store.revoke(this.#name, subject);
  }

  #cookie(value: string, maxAgeSec: number, secure: boolean): string {
    // Secure only through a public name: on 127.0.0.1 (an SSH forward) the platform is plain HTTP.
    return `${this.#name}=${value}; Path=${this.#path}; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
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
  const values = cookieValues(req, name);
  // Two cookies of our name (one planted by a sibling path or host): trust neither.
  if (values === null || values.length !== 1) return null;
  return TOKEN_PATTERN.test(values[0]!) ? values[0]! : null;
}

/** Every well-formed value of the session cookie in the request (to end them all at sign-out). */
function sessionTokens(req: IncomingMessage, name: string): string[] {
  return (cookieValues(req, name) ?? []).filter((value) => TOKEN_PATTERN.test(value));
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The values of every cookie called `name` in the request; null for a header too long to read. */
function cookieValues(req: IncomingMessage, name: string): string[] | null {
  const header = req.headers.cookie;
  if (header === undefined) return [];
  if (typeof header !== 'string' || header.length > 8192) return null;
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq >= 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

