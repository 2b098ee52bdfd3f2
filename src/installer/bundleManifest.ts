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
 * Node's ABI number is `process.versions.modules`
 * (https://nodejs.org/api/process.html#processversions); the glibc version
 * comes from the diagnostic report's header
 * (https://nodejs.org/api/report.html, `glibcVersionRuntime`).
 */
import { z } from 'zod';
import { ErrorCodes, TtmaError } from '../errors.js';
import { excerpt, PATTERNS } from './fields.js';
import type { ScannedArchive } from './archiveScan.js';

/** Where the manifest sits in the bundle. */
export const BUNDLE_MANIFEST_PATH = 'ttma-bundle.json';
export const BUNDLE_MANIFEST_FORMAT = 'ttma-gateway-bundle/1';

/** What a bundle's native code needs of the machine that runs it. */
export interface BundleTarget {
  platform: string;
  arch: string;
  /** `process.versions.modules`: the ABI native addons are built against. */
  nodeAbi: string;
  nodeMajor: number;
  /** glibc's runtime version (e.g. "2.36"), or null on a libc without one (musl). */
  glibc: string | null;
}

const TARGET_WORD = /^[a-z0-9_]{1,32}$/;
const GLIBC_VERSION = /^\d{1,3}\.\d{1,3}$/;
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
  target: z.strictObject({
    platform: z.string().regex(TARGET_WORD),
    arch: z.string().regex(TARGET_WORD),
    nodeAbi: z.string().regex(/^\d{1,4}$/),
    nodeMajor: z.number().int().min(1).max(999),
    glibc: z.string().regex(GLIBC_VERSION).nullable(),
  }),
  files: z.array(z.strictObject({
    path: z.string().regex(BUNDLE_PATH),
    size: z.number().int().min(0),
    sha256: z.string().regex(PATTERNS.sha256Hex),
  })).min(1),
});

export type GatewayBundleManifest = z.infer<typeof manifestSchema>;

/** This machine, as a bundle's native code sees it. */
export function currentTarget(): BundleTarget {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } } | undefined)?.header;
  const glibc = typeof header?.glibcVersionRuntime === 'string' && GLIBC_VERSION.test(header.glibcVersionRuntime) ? header.glibcVersionRuntime : null;
  return {
    platform: process.platform,
    arch: process.arch,
    nodeAbi: process.versions.modules,
    nodeMajor: Number(process.versions.node.split('.')[0]),
    glibc,
  };
}

export function describeTarget(t: BundleTarget): string {
  return `${t.platform}-${t.arch}, Node ${t.nodeMajor} (ABI ${t.nodeAbi})${t.glibc ? `, glibc ${t.glibc}` : ''}`;
}

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

function glibcOlder(have: string, need: string): boolean {
  const [hMajor, hMinor] = have.split('.').map(Number) as [number, number];
  const [nMajor, nMinor] = need.split('.').map(Number) as [number, number];
  return hMajor !== nMajor ? hMajor < nMajor : hMinor < nMinor;
}

/** Why a bundle built for `built` cannot run on `machine`, or null. */
export function targetMismatch(built: BundleTarget, machine: BundleTarget): string | null {
  if (built.platform !== machine.platform || built.arch !== machine.arch || built.nodeAbi !== machine.nodeAbi) {
    return 'its native code (the media addon, uWebSockets.js, Opus) would not load';
  }
  if (built.glibc !== null && machine.glibc === null) return 'it needs glibc and this machine has none (musl?)';
  if (built.glibc !== null && machine.glibc !== null && glibcOlder(machine.glibc, built.glibc)) {
    return `it needs glibc ${built.glibc} or newer`;
  }
  return null;
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
