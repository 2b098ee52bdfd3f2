/**
 * The machine the served gateway bundle is built for, and the redeem
 * request's check against it: a bundle's native code runs on one platform,
 * CPU, Node ABI and glibc (src/wire/bundleTarget.ts), and an installer on
 * any other machine used to learn so only after the one-time token was
 * spent. The installer sends its own target with the token; the platform
 * refuses a mismatch (409) before it looks at the token at all.
 *
 * Read with the installer's own archive scanner and manifest parser, so
 * both sides agree on what the bundle says. A bundle without a readable
 * manifest cannot be checked here (the installer refuses it after the
 * download anyway): the platform says so at start.
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import { BUNDLE_MANIFEST_PATH, parseBundleManifest } from '../../installer/bundleManifest.js';
import { readEntryText } from '../../installer/readEntry.js';
import { bundleTargetSchema, describeTarget, targetMismatch, type BundleTarget } from '../../wire/bundleTarget.js';
import { installerWords, type ScannedGatewayBundle } from './bundleChecks.js';

/** What the served gateway bundle's manifest says it is built for, or why it says nothing. */
export type ServedTarget = { target: BundleTarget } | { problem: string };

export async function readServedTarget(scanned: ScannedGatewayBundle): Promise<ServedTarget> {
  if ('problem' in scanned) return { problem: withoutPrefix(scanned.problem) };
  const { archive } = scanned;
  try {
    if (!archive.entries.some((e) => e.path === BUNDLE_MANIFEST_PATH && e.type === 'file')) {
      return { problem: `it has no ${BUNDLE_MANIFEST_PATH}, so it is not a release bundle (build one with npm run pack:gateway)` };
    }
    return { target: parseBundleManifest(await readEntryText(archive, BUNDLE_MANIFEST_PATH)).target };
  } catch (err) {
    return { problem: withoutPrefix(installerWords(err)) };
  }
}

function withoutPrefix(problem: string): string {
  return problem.replace(/^refused gateway bundle: /, '');
}

/**
 * The redeem request's `target`: null when absent (an installer from before
 * this check: it still works, and its own check after the download still
 * runs); exactly a BundleTarget otherwise, or 400. Checked before the token
 * is looked at, so a malformed one costs the token nothing.
 */
export function parseInstallerTarget(raw: unknown): BundleTarget | null {
  if (raw === undefined) return null;
  const parsed = bundleTargetSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TtmaError(
    ErrorCodes.BAD_REQUEST,
    `target is malformed at ${['target', ...(issue?.path ?? [])].join('.')}: ${issue?.message ?? 'invalid'} (the install token was not used)`,
    400,
  );
}

/**
 * 409 TTMA_ERR_INSTALL_PLATFORM when the served bundle cannot run on the
 * installer's machine. Decided from the bundle and the request's target
 * alone, never the token: the answer is the same for any token, so it tells
 * nothing about one (and the bundle it describes is public at
 * /v1/bundles/gateway.tar.gz anyway).
 */
export function refuseMismatch(served: ServedTarget | null, machine: BundleTarget | null): void {
  if (served === null || !('target' in served) || machine === null) return;
  const problem = targetMismatch(served.target, machine);
  if (!problem) return;
  throw new TtmaError(
    ErrorCodes.INSTALL_PLATFORM,
    `the gateway bundle this platform serves is built for ${describeTarget(served.target)} and this machine is ${describeTarget(machine)}: ${problem}; ` +
      "run the install on a machine like the bundle's (this token still works there), or have the platform operator build the bundle on a machine like this one (npm run pack:gateway), serve it and mint a new token",
    409,
  );
}
