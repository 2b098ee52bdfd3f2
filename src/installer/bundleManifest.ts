/**
 * The manifest inside a gateway release bundle (`ttma-bundle.json` at its
 * root, written by scripts/packGateway.ts) and the installer's check of it.
 *
 * A gateway bundle carries native code (the ttma_media addon, uWebSockets.js,
 * @discordjs/opus, ...) built for one platform, CPU and Node ABI: installed
 * anywhere else it would fail at the first call or at start, after the
 * one-time token was spent. So the installer refuses a bundle built for
 * another machine, and one without a manifest (a bundle not built by the
 * script has no dependencies and cannot run by itself): fail closed.
 *
 * The target and the rule for whether it fits this machine live in
 * src/wire/bundleTarget.ts: the platform applies the same rule before it
 * spends the token, this check stays as the last word after the download.
 */
import { z } from 'zod';
import { ErrorCodes, TtmaError } from '../errors.js';
import { excerpt, PATTERNS } from './fields.js';
import type { ScannedArchive } from './archiveScan.js';
import { bundleTargetSchema, describeTarget, targetMismatch, type BundleTarget } from '../wire/bundleTarget.js';

export { currentTarget, describeTarget, targetMismatch, type BundleTarget } from '../wire/bundleTarget.js';

/** Where the manifest sits in the bundle. */
export const BUNDLE_MANIFEST_PATH = 'ttma-bundle.json';
export const BUNDLE_MANIFEST_FORMAT = 'ttma-gateway-bundle/1';

/** The bundle's own file paths: what archiveScan accepts, kept plain for messages. */
const BUNDLE_PATH = /^[^\0]{1,255}$/;

const manifestSchema = z.strictObject({
  format: z.literal(BUNDLE_MANIFEST_FORMAT),
  name: z.string().regex(PATTERNS.skillName),
  version: z.string().regex(PATTERNS.semver),
  /** The git commit the bundle was built from, or null outside a git checkout. */
  commit: z.string().regex(/^[0-9a-f]{40}$/).nullable(),
  /** The checkout had uncommitted changes to tracked files when it was built. */
  dirty: z.boolean(),
  target: bundleTargetSchema,
  files: z.array(z.strictObject({
    path: z.string().regex(BUNDLE_PATH),
    size: z.number().int().min(0),
    sha256: z.string().regex(PATTERNS.sha256Hex),
  })).min(1),
});

export type GatewayBundleManifest = z.infer<typeof manifestSchema>;

function archiveRefusal(what: string): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_ARCHIVE, `refused gateway bundle: ${what}; nothing was written`, 2);
}

/** The manifest's text, checked for shape only. */
export function parseBundleManifest(text: string): GatewayBundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw archiveRefusal(`${BUNDLE_MANIFEST_PATH} is not JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw archiveRefusal(`${BUNDLE_MANIFEST_PATH} is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Refuses a gateway bundle built for another machine (TTMA_ERR_INSTALL_PLATFORM)
 * or whose files are not exactly the ones its manifest lists
 * (TTMA_ERR_INSTALL_ARCHIVE). `manifestText` is the manifest entry's content
 * from the scanned bytes, or null when the bundle has none.
 */
export function checkGatewayBundle(archive: ScannedArchive, manifestText: string | null, machine: BundleTarget): GatewayBundleManifest {
  if (manifestText === null) {
    throw archiveRefusal(`it has no ${BUNDLE_MANIFEST_PATH}, so it is not a release bundle (build one with npm run pack:gateway) and cannot be checked against this machine`);
  }
  const manifest = parseBundleManifest(manifestText);
  const problem = targetMismatch(manifest.target, machine);
  if (problem) {
    throw new TtmaError(
      ErrorCodes.INSTALL_PLATFORM,
      `refused gateway bundle: it was built for ${describeTarget(manifest.target)} and this machine is ${describeTarget(machine)}: ${problem}; ask the platform operator for a bundle built for this machine (npm run pack:gateway on one like it); nothing was written`,
      2,
    );
  }
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  if (listed.size !== manifest.files.length) throw archiveRefusal(`${BUNDLE_MANIFEST_PATH} lists a file twice`);
  const files = archive.entries.filter((e) => e.type === 'file' && e.path !== BUNDLE_MANIFEST_PATH);
  for (const entry of files) {
    const want = listed.get(entry.path);
    if (!want) throw archiveRefusal(`${excerpt(entry.path)} is not listed in ${BUNDLE_MANIFEST_PATH}`);
    if (want.size !== entry.size || want.sha256 !== entry.sha256) throw archiveRefusal(`${excerpt(entry.path)} differs from its SHA-256 in ${BUNDLE_MANIFEST_PATH}`);
  }
  if (files.length !== listed.size) {
    const present = new Set(files.map((e) => e.path));
    const missing = manifest.files.find((f) => !present.has(f.path));
    throw archiveRefusal(`${excerpt(missing?.path ?? '?')} is listed in ${BUNDLE_MANIFEST_PATH} but not in the bundle`);
  }
  return manifest;
}
