/**
 * Core pinning for the benches (taskset, util-linux): a noisy 2-core VM puts
 * the scheduler in the tail when both sides of a measurement share a core.
 */
import { execFileSync } from 'node:child_process';

export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of `pid` to `core`; false when that cannot be done here. */
export function pinProcess(pid: number, core: number): boolean {
  try {
    execFileSync('taskset', ['-acp', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
