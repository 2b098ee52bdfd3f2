/**
 * This machine's clock against the platform's, measured once at redemption
 * (FAQ-08). The platform decides whether a token has expired; a clock that is
 * off here does not stop the install, but it is worth a warning: the gateway
 * checks every webhook's timestamp against this clock (FAQ-05, a tolerance
 * of WEBHOOK_TOLERANCE_SEC), so a clock minutes off refuses every webhook.
 */
import { WEBHOOK_TOLERANCE_SEC } from '../wire/telnyx.js';

/** Above this the clock is called off (the Date header has whole seconds, the answer takes a moment). */
export const CLOCK_SKEW_WARN_MS = 60_000;

/** Zero or one warning: the skew against the platform's Date header, or, without one, a local clock past the token's expiry. */
export function clockWarnings(localNowMs: number, platformDateMs: number | null, expiresAt: number): string[] {
  if (platformDateMs !== null) {
    const skewMs = localNowMs - platformDateMs;
    if (Math.abs(skewMs) <= CLOCK_SKEW_WARN_MS) return [];
    return [
      `this machine's clock is ${describe(Math.abs(skewMs))} ${skewMs > 0 ? 'ahead of' : 'behind'} the platform's (its Date header at redemption): ` +
        `the install went ahead (the platform decides when a token expires), but the gateway checks webhook timestamps against this clock ` +
        `(within ${WEBHOOK_TOLERANCE_SEC} s) and would refuse them; set the clock right (e.g. timedatectl set-ntp true)`,
    ];
  }
  if (localNowMs < expiresAt) return [];
  return [
    `by this machine's clock the token expired at ${new Date(expiresAt).toISOString()}, yet the platform accepted it (it decides expiry): ` +
      `this clock is probably ahead; the gateway checks webhook timestamps against it, so set it right (e.g. timedatectl set-ntp true)`,
  ];
}

function describe(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}
