/**
 * The bounds a record store keeps (how many records, for how many days),
 * checked the same way for every store so a bad value is one config error.
 */
import { ErrorCodes, TtmaError } from '../../errors.js';
import { DEFAULT_RETENTION_DAYS } from './CallStore.js';

const DAY_MS = 86_400_000;
const MAX_DAYS = 3_650;

export interface Retention {
  maxRecords: number;
  retentionMs: number;
  ttlSec: number;
}

/** `what` and `option` name the setting in the error, e.g. ('usage retention', 'maxEntries'). */
export function checkMaxRecords(what: string, option: string, max: number): number {
  if (!Number.isInteger(max) || max < 1) throw new TtmaError(ErrorCodes.CONFIG, `${what}: ${option} must be a whole number of at least 1`);
  return max;
}

export function checkRetention(what: string, option: string, max: number, days: number = DEFAULT_RETENTION_DAYS): Retention {
  const maxRecords = checkMaxRecords(what, option, max);
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new TtmaError(ErrorCodes.CONFIG, `${what}: days must be a whole number from 1 to ${MAX_DAYS}`);
  }
  return { maxRecords, retentionMs: days * DAY_MS, ttlSec: days * (DAY_MS / 1000) };
}
