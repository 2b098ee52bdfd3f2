/**
 * What a gateway bundle's native code needs of the machine that runs it, and
 * the one rule for whether it fits. Shared by the bundle's manifest
 * (src/installer/bundleManifest.ts), the installer, which sends this
 * machine's target with the redeem request (src/installer/redeem.ts), and
 * the platform, which compares it with the bundle it serves before it spends
 * the token (src/platform/installTokens/bundleTarget.ts).
 *
 * Node's ABI number is `process.versions.modules`
 * (https://nodejs.org/api/process.html#processversions); the glibc version
 * comes from the diagnostic report's header
 * (https://nodejs.org/api/report.html, `glibcVersionRuntime`).
 */
import { z } from 'zod';

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

/** Known keys only, every string bounded: the manifest's field and the redeem request's. */
export const bundleTargetSchema = z.strictObject({
  platform: z.string().regex(TARGET_WORD),
  arch: z.string().regex(TARGET_WORD),
  nodeAbi: z.string().regex(/^\d{1,4}$/),
  nodeMajor: z.number().int().min(1).max(999),
  glibc: z.string().regex(GLIBC_VERSION).nullable(),
});

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
