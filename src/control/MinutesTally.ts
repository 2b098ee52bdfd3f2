/**
 * Minutes of calls this gateway carried, by UTC day and month, kept in
 * memory since the process started. The platform's ledger is the billing
 * truth (it meters and enforces the caps, FAQ-14); this is what the gateway
 * itself saw, for the dashboard. A call counts on the day it ended.
 */
const MS_PER_MINUTE = 60_000;
/** Days and months remembered: enough for "today" and "this month" across a month boundary. */
const KEEP_KEYS = 64;

export class MinutesTally {
  readonly #byDay = new Map<string, number>();
  readonly #byMonth = new Map<string, number>();

  add(endedAtMs: number, durationMs: number): void {
    if (!(durationMs > 0)) return;
    const day = new Date(endedAtMs).toISOString().slice(0, 10);
    bump(this.#byDay, day, durationMs);
    bump(this.#byMonth, day.slice(0, 7), durationMs);
  }

  /** Minutes of ended calls on the UTC day and month of `nowMs`, plus `liveMs` (calls still going). */
  at(nowMs: number, liveMs = 0): { day: string; dayMinutes: number; month: string; monthMinutes: number } {
    const day = new Date(nowMs).toISOString().slice(0, 10);
    const month = day.slice(0, 7);
    return {
      day,
      dayMinutes: ((this.#byDay.get(day) ?? 0) + liveMs) / MS_PER_MINUTE,
      month,
      monthMinutes: ((this.#byMonth.get(month) ?? 0) + liveMs) / MS_PER_MINUTE,
    };
  }
}

function bump(map: Map<string, number>, key: string, ms: number): void {
  map.set(key, (map.get(key) ?? 0) + ms);
  if (map.size > KEEP_KEYS) map.delete(map.keys().next().value as string);
}
