/**
 * FAQ-10: the gateway never runs as root. Started by a systemd unit, uid 0
 * means a unit that lost its User= (or a drop-in that changed it): refuse to
 * start. Elsewhere (a container, CI, a developer's shell, where tests run as
 * root) start, with a warning that says what is wrong.
 *
 * "Started by a unit" is this very process, not one that inherited the
 * unit's environment (a CI runner that is itself a service, and the tests it
 * runs): $SYSTEMD_EXEC_PID (systemd 248 on) names the process the unit
 * started; without it, $INVOCATION_ID with systemd (pid 1) as the parent.
 */
import type { Logger } from '../log.js';
import { configError } from '../configFile/readConfigFile.js';

export type RootVerdict = 'ok' | 'warn' | 'refuse';

export function rootVerdict(uid: number | undefined, env: NodeJS.ProcessEnv, pid = process.pid, ppid = process.ppid): RootVerdict {
  if (uid !== 0) return 'ok';
  return startedByUnit(env, pid, ppid) ? 'refuse' : 'warn';
}

function startedByUnit(env: NodeJS.ProcessEnv, pid: number, ppid: number): boolean {
  if (!env['INVOCATION_ID']) return false;
  const execPid = env['SYSTEMD_EXEC_PID'];
  return execPid !== undefined ? execPid === String(pid) : ppid === 1;
}

/** Throws TTMA_ERR_CONFIG started by a systemd unit as root; logs a warning as root elsewhere. */
export function refuseRootUnderSystemd(log: Logger, uid = process.getuid?.(), env: NodeJS.ProcessEnv = process.env): void {
  const verdict = rootVerdict(uid, env);
  if (verdict === 'refuse') {
    throw configError('running as root (uid 0) under systemd: the unit must name the OpenClaw service user in User= (FAQ-10); the gateway never runs as root. Check User= in ttma-gateway.service and its drop-ins (ttma doctor --install-dir <dir>)');
  }
  if (verdict === 'warn') {
    log.warn({ uid: 0 }, 'RUNNING AS ROOT (uid 0): the gateway must run as its own unprivileged service user, never root (FAQ-10); a compromised gateway would own this machine. Run it as that user (sudo -u <user> ttma gateway ...); under systemd it refuses to start as root');
  }
}
