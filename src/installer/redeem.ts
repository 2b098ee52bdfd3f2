/**
 * Redeems an install token at the platform: POST the token, get the sealed
 * envelope or a refusal that says why (FAQ-08). The answer is read as it
 * arrives and cut off at 64 KiB, so a hostile or broken platform can make
 * the installer neither hold an endless answer nor wait past the timeout.
 *
 * A 5xx answer or no answer at all leaves the token's fate open: the
 * platform's store may have taken it and lost the reply (it never replays
 * the take, src/platform/installTokens/RedisInstallTokenStore.ts). The
 * refusal says so, through `onMaybeSpent`.
 *
 * The request carries this machine's target (src/wire/bundleTarget.ts): the
 * platform refuses it with 409 TTMA_ERR_INSTALL_PLATFORM, before taking the
 * token, when the gateway bundle it serves is built for another machine.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { fetchBlockedUrlProblem } from '../wire/fetchBlockedPorts.js';
import { currentTarget, type BundleTarget } from '../wire/bundleTarget.js';
import { failureReason, readBounded } from './download.js';

const REDEEM_TIMEOUT_MS = 30_000;
const MAX_REDEEM_BYTES = 64 * 1024;
/** How much of the platform's refusal is shown: room for a target mismatch naming both machines. */
const MAX_SAID_CHARS = 600;
/** Errors that mean the request never reached the platform. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface Redeemed {
  envelope: unknown;
  /** The platform's clock, from the answer's Date header (RFC 9110 section 6.6.1); null without one. */
  platformDateMs: number | null;
}

export interface RedeemHooks {
  /** The platform answered 200: it has taken the token, even if the answer breaks off. */
  onSpent(): void;
  /** A 5xx or no answer after the request may have arrived: the token may or may not be spent. */
  onMaybeSpent(): void;
  /** The request never reached the platform (refused connection, unknown host): the token is unused. */
  onNotSent(): void;
  /** The platform refused this machine before taking the token (a bundle built for another): it still works elsewhere. */
  onKept(): void;
}

/** The envelope and the platform's Date, or a TtmaError. */
export async function redeem(platformUrl: string, token: string, hooks: RedeemHooks, target: BundleTarget = currentTarget()): Promise<Redeemed> {
  const url = `${platformUrl}/v1/install/redeem`;
  // fetch never connects to these ports (https://fetch.spec.whatwg.org/#port-blocking): say so before trying, the token unsent.
  const blocked = fetchBlockedUrlProblem(platformUrl);
  if (blocked) {
    hooks.onNotSent();
    throw blockedPortError(platformUrl, blocked);
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, target }),
      redirect: 'error',
      signal: AbortSignal.timeout(REDEEM_TIMEOUT_MS),
    });
  } catch (cause) {
    if (isBlockedPort(cause)) {
      // A port undici blocks that our list lacks (a newer list): the token was not sent either.
      hooks.onNotSent();
      throw blockedPortError(platformUrl, 'its port is one that fetch refuses to connect to', cause);
    }
    if (NOT_SENT.has(errnoOf(cause) ?? '')) hooks.onNotSent();
    else hooks.onMaybeSpent();
    throw new TtmaError(ErrorCodes.INSTALL_DOWNLOAD, `cannot reach the platform at ${platformUrl} (${failureReason(cause, REDEEM_TIMEOUT_MS)}); nothing was written`, 2, { cause });
  }
  if (res.status === 200) hooks.onSpent();
  if (res.status >= 500) hooks.onMaybeSpent();
  const text = (await readBounded(res, "the platform's answer to the token", url, MAX_REDEEM_BYTES, REDEEM_TIMEOUT_MS)).toString('utf8');
  let body: { envelope?: unknown; error?: { code?: unknown; message?: unknown } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // handled below
  }
  if (res.status !== 200 || !body?.envelope) {
    const said = typeof body?.error?.message === 'string' ? body.error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_SAID_CHARS) : `status ${res.status}`;
    if (res.status === 409 && body?.error?.code === ErrorCodes.INSTALL_PLATFORM) {
      hooks.onKept();
      throw new TtmaError(ErrorCodes.INSTALL_PLATFORM, `the platform refused this machine before redeeming the token: ${said}; nothing was written`, 2);
    }
    const verb = res.status >= 500 ? `could not redeem the token (HTTP ${res.status})` : 'refused the token';
    throw new TtmaError(ErrorCodes.INSTALL_TOKEN, `the platform ${verb}: ${said}; nothing was written`, 2);
  }
  const date = Date.parse(res.headers.get('date') ?? '');
  return { envelope: body.envelope, platformDateMs: Number.isNaN(date) ? null : date };
}

function blockedPortError(platformUrl: string, problem: string, cause?: unknown): TtmaError {
  return new TtmaError(
    ErrorCodes.INSTALL_DOWNLOAD,
    `cannot reach the platform at ${platformUrl}: ${problem}; run the platform on another port; nothing was written`,
    2,
    cause === undefined ? undefined : { cause },
  );
}

/** undici's refusal of a blocked port: a `cause` with the message "bad port" and no code. */
function isBlockedPort(err: unknown): boolean {
  return (err as { cause?: { message?: unknown } })?.cause?.message === 'bad port';
}

/** The system error code under fetch's TypeError (its `cause`), if any. */
function errnoOf(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}
