#!/usr/bin/env node
/**
 * `ttma`: one CLI with a fixed set of subcommands (FAQ-16). Nothing here
 * evaluates input as shell; unknown subcommands are refused.
 */
import { readFileSync } from 'node:fs';
import { isTtmaError } from '../errors.js';
import { USAGE, usageOf } from './usage.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `ttma <command> --help`: that command's part of the usage, exit 0 (its flags parser would refuse the flag).
  if (command && (rest.includes('--help') || rest.includes('-h'))) {
    const usage = usageOf(command);
    if (usage) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
  }
  switch (command) {
    case 'demo':
      return (await import('./demoCommand.js')).runDemoCommand(rest);
    case 'gateway':
      // -1: keeps running until a signal; 0 after --print-config.
      return (await import('./gatewayCommand.js')).runGatewayCommand(rest);
    case 'doctor':
      return (await import('./doctorCommand.js')).runDoctorCommand(rest);
    case 'install':
      return (await import('./installCommand.js')).runInstallCommand(rest);
    case 'call':
      return (await import('./callCommand.js')).runCallCommand(rest);
    case 'calls':
      return (await import('./callCommand.js')).runCallsCommand(rest);
    case 'dashboard':
      return (await import('./callCommand.js')).runDashboardCommand(rest);
    case 'recording':
      return (await import('./callCommand.js')).runRecordingCommand(rest);
    case 'deployments':
      return (await import('./deploymentsCommand.js')).runDeploymentsCommand(rest);
    case 'platform':
      await (await import('../platform/cli.js')).runPlatformCommand(rest);
      return -1;
    case 'sim':
      await (await import('../sim/cli.js')).runSimCommand(rest);
      return -1;
    case 'version':
    case '--version':
      process.stdout.write(`ttma ${version()}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`ttma: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (isTtmaError(err)) process.stderr.write(`ttma: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`ttma: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(isTtmaError(err) && err.status === 2 ? 2 : 1);
  },
);
