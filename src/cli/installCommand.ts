/**
 * `ttma install --token-file <file> | --token - | --token <token>
 *   [--dir <install dir>] [--workspace <dir>] [--platform-url URL]
 *   [--user NAME] [--node PATH] [--cloudflared PATH] [--tunnel-port N]
 *   [--local-port N] [--json]`
 *
 * The token is best given by --token-file (owner-only) or --token - (one
 * line on standard input): --token <token> shows it to other local users
 * while the install runs, and leaves it in the shell's history
 * (tokenSource.ts).
 *
 * Redeems a one-time install token and installs the gateway bundle, its
 * credentials, the cloudflared config and the systemd units under --dir
 * (default ~/.local/share/ttma), and the skill under
 * <workspace>/skills/<name>/ (default ~/.openclaw/workspace). The platform
 * URL comes from --platform-url or TTMA_PLATFORM_URL. Prints the paths
 * written (the gateway bundle's as one line; --json lists each), the commands
 * an administrator runs to enable the units (the installer itself changes no
 * system configuration, FAQ-18), the doctor command that checks the result
 * with the gateway's own settings (run by the installed copy: nothing puts a
 * `ttma` on the PATH), and how to give the skill the `ttma` it runs.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';
import { runInstall } from '../installer/Installer.js';
import { intFlag, parseFlags } from './args.js';
import { INSTALL_FLAGS } from './commandFlags.js';
import { tokenFrom } from './tokenSource.js';


export async function runInstallCommand(argv: string[]): Promise<number> {
  const flags = parseFlags('install', argv, INSTALL_FLAGS);
  const platformUrl = flags['platform-url'] ?? process.env['TTMA_PLATFORM_URL'];
  if (!platformUrl) throw new TtmaError(ErrorCodes.CLI_USAGE, 'ttma install: pass --platform-url (or set TTMA_PLATFORM_URL) to say where the token is redeemed', 2);
  const token = await tokenFrom(flags);
  const home = homedir();
  const result = await runInstall({
    token,
    platformUrl,
    dir: flags.dir ?? join(home, '.local', 'share', 'ttma'),
    workspace: flags.workspace ?? join(home, '.openclaw', 'workspace'),
    user: flags.user ?? userInfo().username,
    nodePath: flags.node ?? process.execPath,
    cloudflaredPath: flags.cloudflared ?? '/usr/bin/cloudflared',
    tunnelPort: intFlag('--tunnel-port', flags['tunnel-port'], 8080, 1, 65535),
    localPort: intFlag('--local-port', flags['local-port'], 8081, 1, 65535),
  });
  for (const warning of result.warnings) process.stderr.write(`ttma: warning: ${warning}\n`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
    return 0;
  }
  // The gateway bundle is hundreds of files: one line for it keeps the next steps on screen (--json lists every path).
  const bundleDir = `${result.dir}/gateway`;
  const bundleFiles = result.written.filter((p) => p.startsWith(`${bundleDir}/`)).length;
  const lines = [
    `installed deployment ${result.deploymentId} into ${result.dir}; skill ${result.skill.name} ${result.skill.version} into ${result.skillDir}`,
    'written:',
    ...result.written.filter((p) => !p.startsWith(`${bundleDir}/`)).map((p) => (p === bundleDir ? `  ${p}/ (the gateway bundle: ${bundleFiles} files and directories; --json lists them)` : `  ${p}`)),
    'to run it under systemd (as an administrator; the installer changes no system configuration):',
    `  place the tunnel credentials at ${result.dir}/cloudflared/credentials.json`,
    `  sudo cp ${result.dir}/systemd/ttma-gateway.service ${result.dir}/systemd/ttma-tunnel.service /etc/systemd/system/`,
    '  sudo systemctl daemon-reload && sudo systemctl enable --now ttma-gateway.service ttma-tunnel.service',
    `then check it, as ${result.user} and with the gateway's own settings (those of its unit's ExecStart=):`,
    `  ${[...result.ttmaCommand, ...result.doctorArgs].join(' ')}`,
    // The skill's SKILL.md requires a `ttma` binary; the installer writes nothing outside --dir and --workspace.
    `the skill runs \`ttma\` as ${result.user}: put one on that user's PATH, such as an executable script holding`,
    `  #!/bin/sh`,
    `  exec ${result.ttmaCommand.join(' ')} "$@"`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
