/**
 * Who is redeeming, and how often they may (FAQ-08 redemption is
 * unauthenticated). The platform listens on 127.0.0.1 only, so installers
 * reach it through a tunnel or reverse proxy and every TCP peer is loopback:
 * keyed on the socket address, all installers would share one bucket, and
 * one client sending junk every couple of seconds would lock out everyone.
 *
 * So the client address comes from a forwarding header when the operator
 * names one (`--client-address-header`, e.g. `cf-connecting-ip`, which
 * cloudflared sets; https://developers.cloudflare.com/fundamentals/reference/http-headers/#cf-connecting-ip),
 * trusted only from a loopback peer (the proxy on this machine). For a list
 * header (`x-forwarded-for`) the right-most entry counts: the one the
 * nearest proxy appended, not one the client sent. Without the option the
 * socket address is used, as before.
 *
 * A second limit per presented token id bounds attempts on one token however
 * many addresses they come from. A request refused for its `target` (a
 * malformed one, or a machine the gateway bundle is not built for:
 * bundleTarget.ts) is refused before that count: its answer does not depend
 * on the token, so it tells nothing about one, and counting it would let
 * retries from the wrong machine lock the token out for the right one. The
 * per-address limit, taken before the body is read, still bounds them.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ErrorCodes, TtmaError } from '../../errors.js';
import { RateLimiter } from '../RateLimiter.js';

export interface RedeemRate {
  ratePerSec: number;
  burst: number;
}

export interface RedeemLimitsOptions {
  /** Per client address (default: a burst of 10, then one every 2 s). */
  perAddress?: RedeemRate;
  /** Per presented token id (default: a burst of 10, then one every 5 s). */
  perToken?: RedeemRate;
  /** Lower-case request header carrying the client address, trusted from loopback peers only; null: the socket address. */
  clientAddressHeader?: string | null;
}

export const REDEEM_RATE: RedeemRate = { ratePerSec: 0.5, burst: 10 };
export const REDEEM_RATE_PER_TOKEN: RedeemRate = { ratePerSec: 0.2, burst: 10 };
/** An HTTP header name (RFC 9110 token), as the option accepts it. */
export const CLIENT_ADDRESS_HEADER_PATTERN = /^[A-Za-z0-9-]{1,64}$/;
const TOKEN_ID_PREFIX = /^([A-Za-z0-9_-]{16})\./;

export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export class RedeemLimits {
  readonly #perAddress: RateLimiter;
  readonly #perToken: RateLimiter;
  readonly #header: string | null;

  constructor(options: RedeemLimitsOptions = {}) {
    this.#perAddress = new RateLimiter(options.perAddress ?? REDEEM_RATE);
    this.#perToken = new RateLimiter(options.perToken ?? REDEEM_RATE_PER_TOKEN);
    const header = options.clientAddressHeader ?? null;
    if (header !== null && !CLIENT_ADDRESS_HEADER_PATTERN.test(header)) {
      throw new TtmaError(ErrorCodes.CONFIG, '--client-address-header must be an HTTP header name (letters, digits, "-"), e.g. cf-connecting-ip');
    }
    this.#header = header?.toLowerCase() ?? null;
  }

  /** The redeeming client's address: from the configured header when a loopback proxy sent it, else the socket's. */
  clientAddress(req: IncomingMessage): string | null {
    const peer = req.socket.remoteAddress ?? null;
    if (this.#header === null || peer === null || !isLoopbackAddress(peer)) return peer;
    const raw = req.headers[this.#header];
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    const last = value?.split(',').map((part) => part.trim()).filter((part) => part.length > 0).pop();
    return last !== undefined && isIP(last) !== 0 ? last : peer;
  }

  /** Before the body is read: one attempt from this address, or 429. */
  admitAddress(address: string | null): void {
    if (!this.#perAddress.take(address ?? '')) {
      throw new TtmaError(ErrorCodes.RATE_LIMITED, 'too many redemption attempts from this address: wait and retry', 429);
    }
  }

  /** Once the token is read: one attempt on this token id, or 429. A malformed token is left to the parser's refusal. */
  admitToken(token: unknown): void {
    const id = typeof token === 'string' ? TOKEN_ID_PREFIX.exec(token)?.[1] : undefined;
    if (id !== undefined && !this.#perToken.take(id)) {
      throw new TtmaError(ErrorCodes.RATE_LIMITED, 'too many redemption attempts for this token: wait and retry', 429);
    }
  }
}
