/**
 * The webhook replay cache (FAQ-05), whatever holds it: a verified event's id
 * is remembered for the signature window, so a captured event cannot be
 * re-sent. `checkAndRemember` is atomic: of two deliveries of one event, to
 * one platform process or two on one Redis, exactly one is new.
 *
 * MemoryReplayStore (the default) keeps ids in this process; RedisReplayStore
 * keeps them in Redis (`SET NX PX`), shared by every process on it.
 * test/platform/replayStore.test.ts runs one suite against both.
 *
 * Unlike the gateway's cache, which lets an identity go once its signed
 * timestamp is stale, the platform keeps an event id for the whole TTL from
 * arrival: the id is also how a provider's retry (signed afresh, so its own
 * signature is fresh) is told from a new event, so it has to outlast the
 * provider's retries, not just one signature.
 */
import type { StoreKind } from './CapStore.js';

export interface ReplayStore {
  readonly kind: StoreKind;
  /** True if the key was seen within the window; otherwise remembers it and returns false. */
  checkAndRemember(key: string, nowMs: number): Promise<boolean>;
  /** Forgets a key whose event was not processed after all (the store was away), so the provider's retry passes. */
  forget(key: string): Promise<void>;
  ping(): Promise<void>;
  ready?(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}
