/** Helpers for the install suite: a platform with install tokens, minting over its admin API, a gateway bundle. */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { tarFiles, type TarFile } from '../../scripts/tarWriter.js';
import { BUNDLE_MANIFEST_FORMAT, BUNDLE_MANIFEST_PATH, currentTarget, type BundleTarget, type GatewayBundleManifest } from '../../src/installer/bundleManifest.js';
import { adminHeaders, call, startHarness, type Harness } from '../platform/helpers.js';
import type { InstallRoutesOptions } from '../../src/platform/installTokens/installRoutes.js';
import type { PlatformServerOptions } from '../../src/platform/PlatformServer.js';

let seq = 0;

/** Each its own tunnel host, as the platform requires (one host, one deployment: FAQ-13). */
export function deploymentInput(id = `dep-${process.pid}-${++seq}`) {
  const n = 1_000_000 + ((process.pid * 97 + seq) % 8_000_000);
  return { id, numbers: [`+1555${n}`], tunnelHost: `${id}.trycloudflare.com` };
}

export async function startInstallPlatform(install: InstallRoutesOptions, overrides: Partial<PlatformServerOptions> = {}): Promise<Harness> {
  return startHarness({ install, ...overrides });
}

export async function mint(h: Harness, deployment = deploymentInput(), tunnelCredentialsRef = 'tunnel-0a1b2c') {
  return call(h.base, 'POST', '/v1/admin/install-tokens', { headers: adminHeaders(), body: { deployment, tunnelCredentialsRef } });
}

export async function redeem(h: Harness, token: string) {
  return call(h.base, 'POST', '/v1/install/redeem', { body: { token } });
}

export interface GatewayBundleOptions {
  /** The manifest's target, over this machine's (a bundle built for another machine). */
  target?: Partial<BundleTarget>;
  /** Leave the manifest out (a plain tar of the checkout, as before there was a bundle script). */
  manifest?: false;
  /** Files in the archive beyond the two the manifest lists. */
  unlisted?: TarFile[];
}

/** A minimal gateway bundle: the CLI entry, a package.json and a manifest for this machine, gzipped tar. */
export async function makeGatewayBundle(options: GatewayBundleOptions = {}): Promise<Buffer> {
  const files: TarFile[] = [
    { path: 'dist/src/cli/ttma.js', content: Buffer.from('console.log("ttma");\n'), executable: false },
    { path: 'package.json', content: Buffer.from('{"name":"talk-to-my-agent","version":"0.1.0"}\n'), executable: false },
  ];
  const manifest: GatewayBundleManifest = {
    format: BUNDLE_MANIFEST_FORMAT,
    name: 'talk-to-my-agent',
    version: '0.1.0',
    commit: null,
    dirty: false,
    target: { ...currentTarget(), ...options.target },
    files: files.map((f) => ({ path: f.path, size: f.content.length, sha256: createHash('sha256').update(f.content).digest('hex') })),
  };
  const manifestFile = { path: BUNDLE_MANIFEST_PATH, content: Buffer.from(JSON.stringify(manifest)), executable: false };
  return gzipSync(tarFiles([...(options.manifest === false ? [] : [manifestFile]), ...files, ...(options.unlisted ?? [])], new Date(0)));
}

/** A minimal skill bundle every installer accepts: a SKILL.md with the frontmatter skillManifest.ts reads, gzipped tar. */
export function makeSkillBundle(name = 'ttma-test-skill'): Buffer {
  const md = `---\nname: ${name}\ndescription: "a test skill"\nversion: 1.0.0\nmetadata:\n  openclaw:\n    requires:\n      bins:\n        - ttma\n---\n# ${name}\n`;
  return gzipSync(tarFiles([{ path: 'SKILL.md', content: Buffer.from(md), executable: false }], new Date(0)));
}

/** Both bundles, real enough that the platform mints for them (it runs the installer's checks at start). */
export async function installBundles(): Promise<{ gatewayBundle: Buffer; skillBundle: Buffer }> {
  return { gatewayBundle: await makeGatewayBundle(), skillBundle: makeSkillBundle() };
}
