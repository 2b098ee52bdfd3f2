/**
 * Small helpers for the fixed subcommands: strict flag parsing with messages a
 * person can act on, and secrets read only from files.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCodes, TtmaError } from '../errors.js';

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma ${command}: ${(err as Error).message}. Run \`ttma help\` for usage.`, 2);
  }
}

export function readSecretFile(flag: string, path: string | undefined): string {
  if (!path) throw new TtmaError(ErrorCodes.CLI_USAGE, `missing ${flag} <file>`, 2);
  try {
    const value = readFileSync(path, 'utf8').trim();
    if (!value) throw new Error('file is empty');
    return value;
  } catch (err) {
    throw new TtmaError(ErrorCodes.CONFIG, `${flag} ${path}: cannot read secret: ${(err as Error).message}`, 2);
  }
}

export function intFlag(flag: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  // Decimal digits only: Number() would take "" as 0 (an unset $PORT becoming a random port), "0x1F90", "1e3" and " 8080 ".
  const n = /^-?\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `${flag} must be an integer from ${min} to ${max}, got "${value}"`, 2);
  }
  return n;
}

/** A flag naming an existing directory, made absolute; anything else is a usage error naming the flag. */
export function dirFlag(command: string, flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const refuse = (why: string) => new TtmaError(ErrorCodes.CLI_USAGE, `ttma ${command} ${flag} "${value}": ${why}`, 2);
  if (value === '') throw refuse('an empty path');
  let isDir: boolean;
  try {
    isDir = statSync(value).isDirectory();
  } catch (err) {
    throw refuse(`cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!isDir) throw refuse('not a directory');
  return resolve(value);
}

/** Print the one machine-readable line a parent process waits for. */
export function printReady(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event: 'ready', ...fields })}\n`);
}

/** Run `stop` once on SIGINT/SIGTERM, then exit 0 (1 if stopping failed). */
export function onShutdownSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`shutdown failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
