/**
 * The installer's whole verdict on a gateway bundle's bytes: the strict
 * archive scan, the CLI entry, and its manifest (built for `machine`, exactly
 * the files it lists: bundleManifest.ts). One function, so the platform runs
 * the very same checks at start (installTokens/bundleChecks.ts).
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { GATEWAY_LIMITS, scanArchive, type ScannedArchive } from './archiveScan.js';
import { BUNDLE_MANIFEST_PATH, checkGatewayBundle, currentTarget, parseBundleManifest, type BundleTarget, type GatewayBundleManifest } from './bundleManifest.js';
import { readEntryText } from './readEntry.js';
import { GATEWAY_ENTRY } from './renderUnits.js';

export interface CheckedGatewayBundle {
  archive: ScannedArchive;
  bundle: GatewayBundleManifest;
}

/**
 * Throws the installer's refusal for a bad gateway bundle. `machine` null:
 * any machine (the platform's check; which machine installs is known only
 * at redemption, bundleTarget.ts), so the manifest is checked against its own target.
 */
export async function checkGatewayBundleBytes(gz: Buffer, machine: BundleTarget | null): Promise<CheckedGatewayBundle> {
  return checkGatewayArchive(await scanArchive(gz, GATEWAY_LIMITS, 'gateway bundle'), machine);
}

/** The same checks on an archive already scanned, so the platform scans its bundle once at start. */
export async function checkGatewayArchive(archive: ScannedArchive, machine: BundleTarget | null): Promise<CheckedGatewayBundle> {
  if (!archive.entries.some((e) => e.path === GATEWAY_ENTRY && e.type === 'file')) {
    throw new TtmaError(ErrorCodes.INSTALL_ARCHIVE, `refused gateway bundle: it has no ${GATEWAY_ENTRY}; nothing was written`, 2);
  }
  // Built for this platform, CPU, Node ABI and glibc, and exactly the files its manifest lists (fails closed without one).
  const hasManifest = archive.entries.some((e) => e.path === BUNDLE_MANIFEST_PATH && e.type === 'file');
  const text = hasManifest ? await readEntryText(archive, BUNDLE_MANIFEST_PATH) : null;
  // Without a manifest checkGatewayBundle refuses before it looks at the machine.
  const against = machine ?? (text === null ? currentTarget() : parseBundleManifest(text).target);
  const bundle = checkGatewayBundle(archive, text, against);
  return { archive, bundle };
}
