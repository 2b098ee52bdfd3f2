/**
 * What cloudflared can read in single-unit mode (`ttma gateway
 * --spawn-tunnel`): it runs as the gateway's own user, so the environment
 * scrub (tunnelChild.ts) keeps secrets out of its environment and command
 * line, but not out of its reach: the secret files, systemd's credentials
 * directory, the gateway's /proc entries and, where the kernel lets a
 * process trace a sibling or parent of its own user, the gateway's memory.
 * FAQ-11 holds only in the installed two-unit layout (ttma-tunnel.service,
 * DynamicUser=yes). The gateway logs this at start; doctor reports it.
 */
import { readFileSync } from 'node:fs';

export interface TunnelExposure {
  uid: number | undefined;
  /** Secret and key files the gateway reads, all readable by its user. */
  files: string[];
  /** $CREDENTIALS_DIRECTORY, when the gateway runs under systemd. */
  credentialsDirectory: string | null;
  /** kernel.yama.ptrace_scope, or null without Yama (then any process of the user may trace the gateway). */
  ptraceScope: number | null;
}

export function readPtraceScope(path = '/proc/sys/kernel/yama/ptrace_scope'): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

export function tunnelExposure(files: ReadonlyArray<string | null | undefined>, env: NodeJS.ProcessEnv, uid = process.getuid?.(), ptraceScope = readPtraceScope()): TunnelExposure {
  return { uid, files: [...new Set(files.filter((f): f is string => !!f))], credentialsDirectory: env['CREDENTIALS_DIRECTORY'] || null, ptraceScope };
}

/** One sentence a person can act on. `gatewayPid` names the /proc entries when known. */
export function describeTunnelExposure(e: TunnelExposure, gatewayPid?: number): string {
  const who = e.uid === undefined ? 'the gateway\'s own user' : `the gateway's own user (uid ${e.uid})`;
  const proc = gatewayPid ? `/proc/${gatewayPid}` : 'the gateway\'s /proc/<pid>';
  // Yama 1 and up stop a child from attaching to its parent; without Yama, or at 0, the same user may.
  const memory = e.ptraceScope === null || e.ptraceScope === 0
    ? `and the gateway's memory (${proc}/mem: kernel.yama.ptrace_scope is ${e.ptraceScope ?? 'absent'}), so every secret it holds`
    : `but not the gateway's memory (kernel.yama.ptrace_scope=${e.ptraceScope})`;
  const parts = [
    e.files.length ? `the files ${e.files.join(', ')}` : 'no secret file (none configured)',
    ...(e.credentialsDirectory ? [`every credential in $CREDENTIALS_DIRECTORY (${e.credentialsDirectory})`] : []),
    `${proc}/environ and cmdline`,
    'anything else that user can read',
  ];
  return `single-unit mode (--spawn-tunnel): cloudflared runs as ${who}, so it can read ${parts.join(', ')}, ${memory}. `
    + 'FAQ-11 (the tunnel cannot see the API keys, agent secret or OpenClaw token) holds only in the installed two-unit layout '
    + '(ttma-tunnel.service with DynamicUser=yes): use it where you can';
}
