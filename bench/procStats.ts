/**
 * CPU time and resident memory of a process, from Linux's /proc (all its
 * threads together). Null where /proc is not there.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | null = null;

function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User and system (kernel) CPU time of `pid` in ms, or null. */
export function cpuSplitMs(pid: number): { user: number; system: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 1000 / clockTicks();
    return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
  } catch {
    return null;
  }
}

/** User plus system CPU time of `pid` in ms, or null. */
export function cpuMs(pid: number): number | null {
  const split = cpuSplitMs(pid);
  return split ? split.user + split.system : null;
}

/** CPU time of `pid` and of its children that have exited and been waited for, in ms, or null. */
export function cpuWithChildrenMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / clockTicks();
  } catch {
    return null;
  }
}

/** Resident set size of `pid` in KiB, or null. */
export function rssKiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Whole-machine CPU counters from /proc/stat (jiffies), or null. */
export interface MachineCpu {
  busy: number;
  idle: number;
  steal: number;
}

export function machineCpu(): MachineCpu | null {
  return coreCpu(null);
}

/** One core's counters (the `cpuN` line), or the whole machine's with null; null when unreadable. */
export function coreCpu(core: number | null): MachineCpu | null {
  try {
    const label = core === null ? 'cpu' : `cpu${core}`;
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`${label} `));
    if (!line) return null;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    return { busy: user! + nice! + system! + irq! + softirq!, idle: idle! + iowait!, steal: steal! };
  } catch {
    return null;
  }
}

/** Of the time between two readings, the share the hypervisor stole; null when not measurable. */
export function stealShareBetween(a: MachineCpu | null, b: MachineCpu | null): number | null {
  if (!a || !b) return null;
  const total = b.busy + b.idle + b.steal - a.busy - a.idle - a.steal;
  return total > 0 ? (b.steal - a.steal) / total : null;
}

/** Milliseconds per jiffy of /proc/stat. */
export function msPerTick(): number {
  return 1000 / clockTicks();
}
