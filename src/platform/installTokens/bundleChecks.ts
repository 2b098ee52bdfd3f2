/**
 * At start, the platform runs the installer's own checks over the bundles it
 * serves (the same functions, src/installer/skillBundle.ts), because the
 * installer runs them only after its one-time token is redeemed: a bundle
 * every installer refuses would cost each operator a token to find out.
 * A refusal here stops minting (InstallTokenService), not the platform:
 * calls and the rest of the control plane do not depend on the bundles.
 */
import { isTtmaError } from '../../errors.js';
import { GATEWAY_LIMITS, scanArchive, type ScannedArchive } from '../../installer/archiveScan.js';
import { checkGatewayArchive } from '../../installer/gatewayBundle.js';
import { checkSkillBundle } from '../../installer/skillBundle.js';

/** The served gateway bundle, scanned once at start: its archive, or the scan's refusal in the installer's words. */
export type ScannedGatewayBundle = { archive: ScannedArchive } | { problem: string };

export async function scanGatewayBundle(gz: Buffer): Promise<ScannedGatewayBundle> {
  try {
    return { archive: await scanArchive(gz, GATEWAY_LIMITS, 'gateway bundle') };
  } catch (err) {
    return { problem: installerWords(err) };
  }
}

/** Why every installer would refuse the skill bundle, in the installer's words; null when it would not. */
export function skillBundleProblem(gz: Buffer): Promise<string | null> {
  return problem(() => checkSkillBundle(gz));
}

/**
 * The same for the gateway bundle, on any machine: which machine installs is
 * known only at redemption (bundleTarget.ts refuses a mismatch then, before
 * the token is spent).
 */
export async function gatewayBundleProblem(scanned: ScannedGatewayBundle): Promise<string | null> {
  if ('problem' in scanned) return scanned.problem;
  return problem(() => checkGatewayArchive(scanned.archive, null));
}

async function problem(check: () => Promise<unknown>): Promise<string | null> {
  try {
    await check();
    return null;
  } catch (err) {
    return installerWords(err);
  }
}

/** The installer's words, without its "nothing was written" tail (nothing is being written here). */
export function installerWords(err: unknown): string {
  if (!isTtmaError(err)) return String(err);
  return err.message.replace(/; (the whole archive was refused and )?nothing was written$/, '');
}

/** The mint refusal's text for a bundle that would be refused. */
export function refusedBundleMessage(flag: '--skill-bundle' | '--gateway-bundle', problem: string, rebuild: string): string {
  return `refusing to mint an install token: ${flag} would be refused by every installer: ${problem}; rebuild it with ${rebuild} and restart the platform`;
}
