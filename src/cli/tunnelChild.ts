/**
 * Single-unit mode (hosts without root, FAQ-11): the gateway starts
 * cloudflared itself. It does so before it reads any secret, with an
 * environment built from nothing (not a filtered copy of its own), fixed
 * argument arrays and no shell, so the tunnel process never holds the agent
 * secret, the webhook key or anything the gateway's environment carried.
 *
 * The separate ttma-tunnel.service (its own DynamicUser) remains the
 * stronger separation: here both processes share one user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ErrorCodes, TtmaError } from '../errors.js';

/** The whole environment the tunnel gets. */
export const TUNNEL_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C.UTF-8',
});

const PATH_PATTERN = /^\/[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*$/;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export interface TunnelSpawn {
  /** Absolute path of cloudflared. */
  program: string;
  configFile: string;
  credentialsFile: string;
  tunnelName: string;
}

export function tunnelArgs(t: TunnelSpawn): string[] {
  return ['tunnel', '--no-autoupdate', '--config', t.configFile, '--credentials-file', t.credentialsFile, 'run', t.tunnelName];
}

export function spawnTunnel(t: TunnelSpawn): ChildProcess {
  for (const [flag, value] of [['--spawn-tunnel', t.program], ['--tunnel-config', t.configFile], ['--tunnel-credentials-file', t.credentialsFile]] as const) {
    if (!PATH_PATTERN.test(value) || value.includes('..')) {
      throw new TtmaError(ErrorCodes.CLI_USAGE, `${flag} must be an absolute path of plain characters, got ${JSON.stringify(value.slice(0, 60))}`, 2);
    }
  }
  if (!NAME_PATTERN.test(t.tunnelName)) throw new TtmaError(ErrorCodes.CLI_USAGE, '--tunnel-name must be a tunnel name or UUID (A-Z, a-z, 0-9, "-")', 2);
  return spawn(t.program, tunnelArgs(t), {
    env: { ...TUNNEL_ENV },
    shell: false,
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: '/',
  });
}
