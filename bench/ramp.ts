/**
 * The capacity ramp's pass rule (DESIGN.md section 9): a load step passes
 * while loss stays at or under 0.1 %, the gateway's added latency p99 (the
 * worse direction) at or under 5 ms, and the event-loop delay p99 (the worst
 * thread) at or under 10 ms. Capacity is the largest passing step below the
 * first failing one; at a step where the gateway's measured-load admission
 * refused calls (it says it is full) and the calls it carried pass, the
 * capacity is the calls carried and the ramp ends there. Pure: the bench and
 * its test share it.
 */
export interface RampLimits {
  maxLossRate: number;
  maxAddedP99Ms: number;
  maxLoopDelayP99Ms: number;
}

export const DESIGN_LIMITS: RampLimits = { maxLossRate: 0.001, maxAddedP99Ms: 5, maxLoopDelayP99Ms: 10 };

export interface StepMeasure {
  calls: number;
  lossRate: number;
  addedP99Ms: number;
  loopDelayP99Ms: number;
  /** Calls that could not be set up or whose media socket broke. */
  failedCalls: number;
  /** Of those, calls the target refused as busy by measured-load admission (ours only). */
  refusedBusy?: number;
  /** Calls the target said it carried (fewer than `calls` when some were refused). */
  callsCarried?: number;
  /** How late the load generator sent its frames (p99, ms): its own health at this step. */
  sendLagP99Ms?: number;
}

/**
 * A load generator that sends this late (p99) is itself the bottleneck: its
 * frames reach the target bunched and fewer than planned, so the step says
 * nothing about the target. The self-test holds the generator to it too.
 */
export const GENERATOR_MAX_SEND_LAG_MS = 5;

export function generatorBehind(step: StepMeasure): boolean {
  return step.sendLagP99Ms !== undefined && step.sendLagP99Ms > GENERATOR_MAX_SEND_LAG_MS;
}

/** Why a step fails; empty when it passes. */
export function stepFailures(step: StepMeasure, limits: RampLimits = DESIGN_LIMITS): string[] {
  const why: string[] = [];
  // A call refused as busy is the gateway protecting the calls it carries, not a failure of theirs.
  const failed = step.failedCalls - (step.refusedBusy ?? 0);
  if (failed > 0) why.push(`${failed} calls failed`);
  if (!(step.lossRate <= limits.maxLossRate)) why.push(`loss ${(step.lossRate * 100).toFixed(3)} % > ${(limits.maxLossRate * 100).toFixed(1)} %`);
  if (!(step.addedP99Ms <= limits.maxAddedP99Ms)) why.push(`added p99 ${step.addedP99Ms} ms > ${limits.maxAddedP99Ms} ms`);
  if (!(step.loopDelayP99Ms <= limits.maxLoopDelayP99Ms)) why.push(`event-loop delay p99 ${step.loopDelayP99Ms} ms > ${limits.maxLoopDelayP99Ms} ms`);
  return why;
}

/**
 * Largest passing step before the first failure (0 if the first step fails);
 * a step where the load generator fell behind ends the ramp without counting,
 * pass or fail.
 */
export function capacityOf(steps: StepMeasure[], limits: RampLimits = DESIGN_LIMITS): number {
  let capacity = 0;
  for (const step of steps) {
    if (generatorBehind(step) || stepFailures(step, limits).length > 0) break;
    if (admissionFull(step)) return Math.max(capacity, step.callsCarried ?? step.calls - step.refusedBusy!);
    capacity = step.calls;
  }
  return capacity;
}

/** The target's admission refused calls at this step: it is full, so the ramp stops here. */
export function admissionFull(step: StepMeasure): boolean {
  return (step.refusedBusy ?? 0) > 0;
}

/** The ratio ours / baseline, 2 decimals; null when the baseline carried nothing. */
export function ratio(ours: number, baseline: number): number | null {
  return baseline > 0 ? Math.round((ours / baseline) * 100) / 100 : null;
}

/** A window that lost this share of the target's core to the hypervisor, or more, is disturbed. */
export const DISTURBED_STEAL_SHARE = 0.05;
/** Windows measured at most at one failing step, while each of them is disturbed. */
export const DISTURBED_WINDOWS = 3;

/** Every window's steal share is known and at least DISTURBED_STEAL_SHARE. */
export function allDisturbed(stealShares: readonly (number | null)[]): boolean {
  return stealShares.length > 0 && stealShares.every((x) => x !== null && x >= DISTURBED_STEAL_SHARE);
}

/**
 * After a failing window: measure again? Always once (a single hypervisor
 * stall can fail a window); a third time only while every window so far was disturbed.
 */
export function wantsAnotherWindow(stealShares: readonly (number | null)[]): boolean {
  return stealShares.length < 2 || (stealShares.length < DISTURBED_WINDOWS && allDisturbed(stealShares));
}

/** Added to a ramp's stop reason when every window of the failing step was disturbed. */
export function disturbedNote(stealShares: readonly (number | null)[]): string {
  const each = stealShares.map((x) => `${Math.round((x ?? 0) * 1000) / 10} %`).join(', ');
  return `machine disturbed: hypervisor steal ${each} on the target's core in the ${stealShares.length} windows (the target did not have the core it was measured on)`;
}
