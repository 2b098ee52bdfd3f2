/** Helpers for the install suite: a platform with install tokens, minting over its admin API, a gateway bundle. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { adminHeaders, call, startHarness, type Harness } from '../platform/helpers.js';
import type { InstallRoutesOptions } from '../../src/platform/installTokens/installRoutes.js';
import type { PlatformServerOptions } from '../../src/platform/PlatformServer.js';

export const TUNNEL_HOST = 'gw-test.trycloudflare.com';
let seq = 0;

export function deploymentInput(id = `dep-${process.pid}-${++seq}`) {
  const n = 1_000_000 + ((process.pid * 97 + seq) % 8_000_000);
  return { id, numbers: [`+1555${n}`], tunnelHost: TUNNEL_HOST };
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

/** A minimal gateway bundle: the CLI entry and a package.json, gzipped tar. */
export async function makeGatewayBundle(): Promise<Buffer> {
  const src = await mkdtemp(join(tmpdir(), 'ttma-gwsrc-'));
  await mkdir(join(src, 'dist/src/cli'), { recursive: true });
  await writeFile(join(src, 'dist/src/cli/ttma.js'), 'console.log("ttma");\n');
  await writeFile(join(src, 'package.json'), '{"name":"talk-to-my-agent","version":"0.1.0"}\n');
  const chunks: Buffer[] = [];
  for await (const c of create({ gzip: true, cwd: src, portable: true }, ['dist', 'package.json'])) chunks.push(Buffer.from(c as Buffer));
  await rm(src, { recursive: true });
  return Buffer.concat(chunks);
}
