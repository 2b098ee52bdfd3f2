/**
 * Call history for the operator (issue 9 item 4): the platform's call
 * records, filtered by deployment, direction, number, start time and
 * hang-up cause, newest first. Served by the operator API as JSON
 * (`/v1/admin/history.json`) and as a page (`/v1/admin/history`,
 * src/platform/historyPage.ts), both behind the admin credential.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import type { CallRecord } from './CallRegistry.js';
import { directionOf } from './CallRegistry.js';

export interface HistoryQuery {
  deployment: string | null;
  direction: 'incoming' | 'outgoing' | null;
  /** Matches either party, exactly. */
  number: string | null;
  /** Calls first seen at or after this instant (ISO 8601). */
  from: string | null;
  /** Calls first seen before this instant. */
  to: string | null;
  /** Exact hang-up cause, e.g. normal_clearing. */
  cause: string | null;
  limit: number;
}

export const HISTORY_DEFAULT_LIMIT = 200;
export const HISTORY_MAX_LIMIT = 1_000;
/** Filter values are short identifiers; a long one is a mistake or a probe. */
const MAX_FILTER_LENGTH = 128;
const FILTERS = ['deployment', 'direction', 'number', 'from', 'to', 'cause', 'limit'] as const;

/** Parses the query string; an unknown parameter or a bad value is a 400 naming it. */
export function parseHistoryQuery(params: URLSearchParams): HistoryQuery {
  for (const name of new Set(params.keys())) {
    if (!(FILTERS as readonly string[]).includes(name)) {
      throw new TtmaError(ErrorCodes.BAD_REQUEST, `unknown filter "${name.slice(0, 40)}": use ${FILTERS.join(', ')}`, 400);
    }
    if (params.getAll(name).length > 1) throw new TtmaError(ErrorCodes.BAD_REQUEST, `filter "${name}" given more than once`, 400);
  }
  const text = (name: (typeof FILTERS)[number]): string | null => {
    const value = params.get(name);
    if (value === null || value === '') return null;
    if (value.length > MAX_FILTER_LENGTH) throw new TtmaError(ErrorCodes.BAD_REQUEST, `filter "${name}" longer than ${MAX_FILTER_LENGTH} characters`, 400);
    return value;
  };
  const time = (name: 'from' | 'to'): string | null => {
    const value = text(name);
    if (value === null) return null;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new TtmaError(ErrorCodes.BAD_REQUEST, `filter "${name}" must be an ISO 8601 time, e.g. 2026-11-26T00:00:00Z`, 400);
    return new Date(ms).toISOString();
  };
  const directionText = text('direction');
  const direction = directionText === null ? null : directionOf(directionText);
  if (directionText !== null && direction === null) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, 'filter "direction" must be incoming or outgoing', 400);
  }
  const limitText = text('limit');
  if (limitText !== null && !/^\d{1,4}$/.test(limitText)) {
    throw new TtmaError(ErrorCodes.BAD_REQUEST, `filter "limit" must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`, 400);
  }
  const limit = limitText === null ? HISTORY_DEFAULT_LIMIT : Math.min(HISTORY_MAX_LIMIT, Math.max(1, Number(limitText)));
  const query = { deployment: text('deployment'), direction, number: text('number'), from: time('from'), to: time('to'), cause: text('cause'), limit };
  if (query.from && query.to && query.from >= query.to) throw new TtmaError(ErrorCodes.BAD_REQUEST, 'filter "from" must be before "to"', 400);
  return query;
}

/** The matching records, newest first, at most `limit`; `total` counts every match. */
export function selectHistory(records: CallRecord[], q: HistoryQuery): { total: number; calls: CallRecord[] } {
  const matches = records.filter(
    (c) =>
      (q.deployment === null || c.deploymentId === q.deployment) &&
      (q.direction === null || c.direction === q.direction) &&
      (q.number === null || c.from === q.number || c.to === q.number) &&
      (q.from === null || c.firstSeenAt >= q.from) &&
      (q.to === null || c.firstSeenAt < q.to) &&
      (q.cause === null || c.hangupCause === q.cause),
  );
  matches.sort((a, b) => (a.firstSeenAt < b.firstSeenAt ? 1 : a.firstSeenAt > b.firstSeenAt ? -1 : 0));
  return { total: matches.length, calls: matches.slice(0, q.limit) };
}

/** The query as it is echoed back (JSON) and put in the form (page). */
export function queryView(q: HistoryQuery): Record<string, string | number | null> {
  return { deployment: q.deployment, direction: q.direction, number: q.number, from: q.from, to: q.to, cause: q.cause, limit: q.limit };
}
