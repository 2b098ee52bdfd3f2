/**
 * Structured JSON logs with pino, to stderr: stdout is kept for the machine-
 * readable lines commands print (ready lines, --json summaries).
 * Never log a secret or a token: log the call id and a reason instead.
 * For a terminal, pipe through pino-pretty (a dev dependency, not needed to run).
 */
import { pino, destination, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `to`: where the lines go (tests capture them); stderr by default. */
export function createLogger(component: string, level: LogLevel = defaultLogLevel(), to?: DestinationStream): Logger {
  return pino({ name: component, level, base: { component } }, to ?? destination({ fd: 2, sync: true }));
}

/** TTMA_LOG_LEVEL when it names a level, else info. */
export function defaultLogLevel(): LogLevel {
  const fromEnv = process.env.TTMA_LOG_LEVEL;
  return LOG_LEVELS.includes(fromEnv as LogLevel) ? (fromEnv as LogLevel) : 'info';
}
