/**
 * The two platforms `bench/platformProxy.ts` times side by side (and the
 * skeleton under them, bench/platformSkeleton.ts): the current
 * one (deployments and call records in Redis) and a baseline (`memory`: records
 * kept in process, as before they moved to Redis; `fetch`: the previous
 * fetch/undici provider client; `journal`: no Redis at all, the embedded
 * store journaled to a state directory, each change fdatasync'd before the answer). Started in the bench's own process, or in a
 * child of their own (`bench/platformHost.ts`), as `ttma platform` runs.
 */
import { createLogger } from '../src/log.js';
import { PlatformServer } from '../src/platform/PlatformServer.js';
import { MemoryDeploymentStore } from '../src/platform/DeploymentRegistry.js';
import { MemoryCallStore } from '../src/platform/store/MemoryCallStore.js';
import { HEADER_DEPLOYMENT } from '../src/wire/platformApi.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateJournal } from '../src/platform/store/StateJournal.js';
import { fetchTransport } from './fetchTransport.js';
import { startSkeleton } from './platformSkeleton.js';

export type BaselineKind = 'memory' | 'fetch' | 'journal';
export const BASELINE_KINDS: readonly BaselineKind[] = ['memory', 'fetch', 'journal'];

export interface PlatformTargetsSpec {
  redisUrl: string;
  providerPort: number;
  baseline: BaselineKind;
}

export interface PlatformTarget {
  port: number;
  headers: Record<string, string>;
}

export interface PlatformTargets {
  current: PlatformTarget;
  previous: PlatformTarget;
  /** The dial's I/O with none of its checks (bench/platformSkeleton.ts): the floor under both. */
  skeleton: PlatformTarget;
  stop(): Promise<void>;
}

export const BENCH_SECRET = 'b'.repeat(40);
export const BENCH_TUNNEL = 'bench.trycloudflare.com';
export const BENCH_PROVIDER_KEY = 'KEYbench-provider-key-0123456789';

export function baselineName(kind: BaselineKind): string {
  return kind === 'fetch' ? 'fetch provider client' : kind === 'journal' ? 'embedded store, journaled (no Redis)' : 'records in process';
}

export async function startPlatformTargets(spec: PlatformTargetsSpec): Promise<PlatformTargets> {
  const stateDir = spec.baseline === 'journal' ? await mkdtemp(join(tmpdir(), 'ttma-bench-state-')) : null;
  const journal = stateDir ? await StateJournal.open(stateDir) : null;
  const start = async (old: boolean): Promise<{ platform: PlatformServer; target: PlatformTarget }> => {
    const platform = new PlatformServer({
      providerBaseUrl: `http://127.0.0.1:${spec.providerPort}`,
      providerApiKey: BENCH_PROVIDER_KEY,
      connectionId: 'bench',
      webhookPublicKeyBase64: null,
      adminToken: null,
      logger: createLogger('bench', 'silent'),
      redisUrl: old && journal ? null : spec.redisUrl,
      ...(old && journal ? { stateJournal: journal } : {}),
      rateLimit: { ratePerSec: 1e6, burst: 1e6 },
      ...(old && spec.baseline === 'fetch' ? { provider: { transport: fetchTransport } } : {}),
      ...(old && spec.baseline === 'memory' ? { deploymentStore: new MemoryDeploymentStore(), callStore: new MemoryCallStore() } : {}),
    });
    // Each platform its own deployment (own Redis keys), so the two never share a counter.
    const id = old ? 'bench-old' : 'bench-new';
    await platform.deployments.register({
      id, numbers: [old ? '+15559990001' : '+15559990000'], tunnelHost: BENCH_TUNNEL, agentSecret: BENCH_SECRET,
      caps: { dayMinutes: 44_640, monthMinutes: 44_640 }, recording: false,
    });
    const { port } = await platform.start();
    return { platform, target: { port, headers: { authorization: `Bearer ${BENCH_SECRET}`, [HEADER_DEPLOYMENT]: id } } };
  };
  const current = await start(false);
  const previous = await start(true);
  const skeleton = await startSkeleton(spec.redisUrl, spec.providerPort, BENCH_PROVIDER_KEY);
  return {
    current: current.target,
    previous: previous.target,
    skeleton: skeleton.target,
    async stop() {
      await current.platform.stop();
      await previous.platform.stop();
      await skeleton.stop();
      await journal?.close();
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
