/**
 * Deployments as stored before a rule that would now refuse them (two sharing a tunnel host): written
 * under the stores' checks, as an older platform's data is found. Loading this module does nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDeploymentStore, type Deployment } from '../../src/platform/DeploymentRegistry.js';
import { toStored } from '../../src/platform/store/deploymentRecord.js';
import type { RedisDeploymentStore } from '../../src/platform/store/RedisDeploymentStore.js';
import { StateJournal } from '../../src/platform/store/StateJournal.js';

export function storedDeployment(id: string, numbers: string[], tunnelHost: string): Deployment {
  return {
    id,
    numbers,
    tunnelHost,
    agentSecretSha256: Buffer.alloc(32, 7),
    disabled: false,
    caps: { dayMinutes: 600, monthMinutes: 6_000 },
    recording: true,
    dialPolicy: { allowPrefixes: ['+1'] },
  };
}

/** An embedded store opened on a state directory whose journal already holds `records`; close() removes it. */
export async function legacyMemoryStore(records: readonly Deployment[]): Promise<{ store: MemoryDeploymentStore; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ttma-legacy-'));
  const writer = await StateJournal.open(dir);
  const table = writer.table<unknown>('deployments');
  for (const d of records) table.set(d.id, { doc: toStored(d), disabled: d.disabled });
  await writer.flush();
  await writer.close();
  const journal = await StateJournal.open(dir);
  return {
    store: new MemoryDeploymentStore(journal),
    close: async () => {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `records` into a Redis deployment store's keys as its scripts would, without their checks. */
export async function seedRedisDeployments(store: RedisDeploymentStore, prefix: string, records: readonly Deployment[]): Promise<void> {
  // The store's own client: on a Cluster it routes the {deployments}-tagged keys to their node.
  const redis = (store as unknown as { redis: { hset(k: string, ...a: string[]): Promise<unknown>; sadd(k: string, m: string): Promise<unknown>; set(k: string, v: string): Promise<unknown> } }).redis;
  const tag = `${prefix}:{deployments}:`;
  for (const d of records) {
    await redis.hset(`${tag}dep:${d.id}`, 'doc', toStored(d), 'disabled', d.disabled ? '1' : '0');
    await redis.sadd(`${tag}ids`, d.id);
    for (const n of d.numbers) await redis.set(`${tag}num:${n}`, d.id);
  }
}
