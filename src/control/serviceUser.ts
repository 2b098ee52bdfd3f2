/**
 * Who the installed gateway service runs as, for doctor's `user` check:
 * systemd's User= and MainPID for ttma-gateway.service, and the uids of that
 * process from /proc. Null when systemd cannot tell (no systemctl, no
 * running systemd, the unit not installed); doctor then judges its own uid.
 */
import { readFileSync } from 'node:fs';
import { systemctlShow, type Systemctl } from './systemctlShow.js';

export const GATEWAY_UNIT = 'ttma-gateway.service';

export interface ServiceUser {
  unit: string;
  /** User= as systemd reports it; empty means root. */
  user: string;
  /** The main process, 0 when the unit is not running. */
  mainPid: number;
  /** Real, effective, saved and filesystem uids of the main process, or null when /proc did not say. */
  uids: number[] | null;
}

/** The `Uid:` line of /proc/<pid>/status. */
export function processUids(pid: number, proc = '/proc'): number[] | null {
  try {
    const line = /^Uid:\s+(.*)$/m.exec(readFileSync(`${proc}/${pid}/status`, 'utf8'))?.[1];
    const uids = line?.trim().split(/\s+/).map(Number) ?? [];
    return uids.length > 0 && uids.every(Number.isInteger) ? uids : null;
  } catch {
    return null;
  }
}

export function gatewayServiceUser(systemctl: Systemctl = systemctlShow, proc = '/proc'): ServiceUser | null {
  const shown = systemctl(GATEWAY_UNIT, ['User', 'MainPID']);
  if (!shown) return null;
  const mainPid = Number(shown.get('MainPID') ?? '0');
  const pid = Number.isInteger(mainPid) && mainPid > 0 ? mainPid : 0;
  return { unit: GATEWAY_UNIT, user: shown.get('User') ?? '', mainPid: pid, uids: pid ? processUids(pid, proc) : null };
}
