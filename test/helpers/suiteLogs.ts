/**
 * Suite-wide log capture for the secret scan (`npm run test:logscan`): when
 * TTMA_TEST_LOG_DIR is set, each stack logs at trace into a file there and,
 * when it stops, writes beside it every secret it used (keys, tokens, the
 * media tokens its calls were given). scripts/logScanSuite.ts then looks for
 * each secret in every file. Unset (plain `npm test`): stacks stay silent.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { destination } from 'pino';
import { createLogger, type Logger } from '../../src/log.js';

export const LOG_DIR_ENV = 'TTMA_TEST_LOG_DIR';

let seq = 0;

export interface SuiteLog {
  logger: Logger;
  /** Write the secrets file (name -> the forms each secret travels in). */
  saveSecrets(secrets: Record<string, string[]>): void;
}

export function suiteLog(component: string): SuiteLog | undefined {
  const dir = process.env[LOG_DIR_ENV];
  if (!dir) return undefined;
  const base = join(dir, `${component}-${process.pid}-${++seq}`);
  const logger = createLogger(component, 'trace', destination({ dest: `${base}.jsonl`, sync: true }));
  return {
    logger,
    saveSecrets(secrets) {
      writeFileSync(`${base}.secrets.json`, JSON.stringify(secrets));
    },
  };
}

/** base64, base64url and hex of raw key bytes. */
export function byteForms(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  return [b.toString('base64'), b.toString('base64url'), b.toString('hex')];
}

/** Every string under a key that names a credential (token, apiKey, secret), anywhere in `value`. */
export function credentialStrings(value: unknown, found: string[] = []): string[] {
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (typeof inner === 'string' && /token|apikey|secret|password/i.test(key)) found.push(inner);
      else credentialStrings(inner, found);
    }
  }
  return found;
}
