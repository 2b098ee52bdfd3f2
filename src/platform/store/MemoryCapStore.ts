/**
 * The embedded cap store: the CapStore contract in one process's memory.
 * Each method runs to completion without awaiting, so on node's one thread
 * it is as atomic as the Redis script.
 */
import type { CallReservation, CapLimits, CapPeriod, CapStore, ReserveResult, SettleResult } from './CapStore.js';

interface CallEntry {
  reserved: number;
  settled: boolean;
  billed: number | null;
  /** Where the call last reserved: its settlement adjusts these counters. */
  period: CapPeriod | null;
}

export class MemoryCapStore implements CapStore {
  readonly kind = 'memory' as const;
  readonly #counters = new Map<string, number>();
  readonly #calls = new Map<string, CallEntry>();

  async reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod): Promise<ReserveResult> {
    const call = this.#call(deploymentId, callId);
    const dayKey = `${deploymentId}|d|${period.day}`;
    const monthKey = `${deploymentId}|m|${period.month}`;
    const dayUsed = this.#counters.get(dayKey) ?? 0;
    const monthUsed = this.#counters.get(monthKey) ?? 0;
    if (call?.settled) return { ok: false, reason: 'settled', dayUsed, monthUsed };
    if (dayUsed + units > limits.day) return { ok: false, reason: 'day', dayUsed, monthUsed };
    if (monthUsed + units > limits.month) return { ok: false, reason: 'month', dayUsed, monthUsed };
    this.#counters.set(dayKey, dayUsed + units);
    this.#counters.set(monthKey, monthUsed + units);
    const entry = call ?? { reserved: 0, settled: false, billed: null, period: null };
    entry.reserved += units;
    entry.period = { ...period };
    this.#calls.set(`${deploymentId}|${callId}`, entry);
    return { ok: true, dayUsed: dayUsed + units, monthUsed: monthUsed + units, callReserved: entry.reserved };
  }

  async settle(deploymentId: string, callId: string, billedUnits: number, period: CapPeriod): Promise<SettleResult> {
    const entry = this.#call(deploymentId, callId) ?? { reserved: 0, settled: false, billed: null, period: null };
    if (entry.settled) return { first: false, billed: entry.billed ?? 0, reserved: entry.reserved };
    const charged = entry.period ?? period;
    const delta = billedUnits - entry.reserved;
    this.#add(`${deploymentId}|d|${charged.day}`, delta);
    this.#add(`${deploymentId}|m|${charged.month}`, delta);
    entry.settled = true;
    entry.billed = billedUnits;
    this.#calls.set(`${deploymentId}|${callId}`, entry);
    return { first: true, billed: billedUnits, reserved: entry.reserved };
  }

  async usage(deploymentId: string, period: CapPeriod): Promise<{ day: number; month: number }> {
    return {
      day: this.#counters.get(`${deploymentId}|d|${period.day}`) ?? 0,
      month: this.#counters.get(`${deploymentId}|m|${period.month}`) ?? 0,
    };
  }

  async reservation(deploymentId: string, callId: string): Promise<CallReservation | null> {
    const entry = this.#call(deploymentId, callId);
    return entry ? { reserved: entry.reserved, settled: entry.settled, billed: entry.billed } : null;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  #call(deploymentId: string, callId: string): CallEntry | undefined {
    return this.#calls.get(`${deploymentId}|${callId}`);
  }

  #add(key: string, delta: number): void {
    if (delta !== 0) this.#counters.set(key, Math.max(0, (this.#counters.get(key) ?? 0) + delta));
  }
}
