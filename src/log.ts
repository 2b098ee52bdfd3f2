/**
 * Structured JSON logs with pino, to stderr: stdout is kept for the machine-
 * readable lines commands print (ready lines, --json summaries).
 * Never log a secret or a token: log the call id and a reason instead.
 */
import { pino, destination, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(component: string, level: LogLevel = defaultLevel()): Logger {
  return pino({ name: component, level, base: { component } }, destination({ fd: 2, sync: true }));
}

function defaultLevel(): LogLevel {
  const fromEnv = process.env.TTMA_LOG_LEVEL;
  const levels: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  return levels.includes(fromEnv as LogLevel) ? (fromEnv as LogLevel) : 'info';
}
