/**
 * The provider's records of ended calls, served as Telnyx serves them: the
 * Detail Records search, `GET /v2/detail_records`
 * (developers.telnyx.com/api-reference/detail-records/search-detail-records).
 * `filter[record_type]` is required (one of the documented types; only
 * `call-control` has records here), any other record attribute is filtered on
 * as `filter[<attribute>]=<value>` (exact match), pages are `page[number]` and
 * `page[size]` (1 to 50, default 20), newest first; the answer is
 * `{data: [...], meta: {total_pages, total_results, page_number, page_size}}`.
 *
 * A record has the fields of Telnyx's documented example
 * (developers.telnyx.com/development/webrtc/troubleshooting/detail-records):
 * `telnyx_call_control_id`, `call_sec` (seconds talked, a whole number),
 * `billed_sec` (call_sec rounded up to whole minutes, Telnyx's 60/60 billing
 * increment for US calls), `started_at`/`finished_at` to the second,
 * `direction` inbound/outbound, `cli`/`cld`. There is no hang-up cause and no
 * answer time in them, and no record for a live call. The filter operators
 * (`filter[cld][contains]`, `filter[date_range]`...) and `sort` are not
 * modelled: the simulator refuses them rather than ignore them.
 */
import type { CallDetailRecord } from '../wire/telnyx.js';
import { PROVIDER_CODES } from './constants.js';
import { ProviderApiError } from './ProviderApiError.js';
import { invalidParam, pageParam } from './requests.js';

export interface CallControlDetailRecord {
  record_type: 'call_control_detail_record';
  id: string;
  telnyx_call_control_id: string;
  telnyx_session_id: string;
  connection_id: string;
  direction: 'inbound' | 'outbound';
  cli: string;
  cld: string;
  started_at: string;
  finished_at: string;
  call_sec: number;
  billed_sec: number;
}

/** The documented `filter[record_type]` values. */
const RECORD_TYPES = [
  'ai-voice-assistant', 'amd', 'call-control', 'conference', 'conference-participant', 'embedding', 'fax', 'inference',
  'inference-speech-to-text', 'media_storage', 'media-streaming', 'messaging', 'noise-suppression', 'recording',
  'sip-trunking', 'siprec-client', 'stt', 'tts', 'verify', 'webrtc', 'wireless',
];
const PAGE_SIZE_DEFAULT = 20;
const PAGE_SIZE_MAX = 50;
const BILLING_INCREMENT_SEC = 60;
const FILTER = /^filter\[([a-z_]+)\]$/;

/** `2024-12-11T17:43:24Z`: the records' form, to the second. */
function toSecond(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** The record of an ended call; null for one still live (it has none yet). */
export function detailRecordOf(cdr: CallDetailRecord): CallControlDetailRecord | null {
  if (cdr.ended_at === null) return null;
  const callSec = Math.round(cdr.duration_ms / 1000);
  return {
    record_type: 'call_control_detail_record',
    id: cdr.call_control_id.replace(/^v3:/, ''),
    telnyx_call_control_id: cdr.call_control_id,
    telnyx_session_id: cdr.call_session_id,
    connection_id: cdr.connection_id,
    direction: cdr.direction === 'incoming' ? 'inbound' : 'outbound',
    cli: cdr.from,
    cld: cdr.to,
    started_at: toSecond(cdr.started_at),
    finished_at: toSecond(cdr.ended_at),
    call_sec: callSec,
    billed_sec: Math.ceil(callSec / BILLING_INCREMENT_SEC) * BILLING_INCREMENT_SEC,
  };
}


/** One page of the search; `records` are the ended calls whose record is filed. */
export function searchDetailRecords(records: readonly CallDetailRecord[], query: URLSearchParams) {
  const recordType = query.get('filter[record_type]');
  if (recordType === null) {
    throw new ProviderApiError(422, PROVIDER_CODES.MISSING_PARAMETER, 'Missing required parameter', 'filter[record_type] must be specified');
  }
  if (!RECORD_TYPES.includes(recordType)) throw invalidParam('filter[record_type]', `must be one of ${RECORD_TYPES.join(', ')}`, PROVIDER_CODES.INVALID_ENUM);
  const pageNumber = pageParam(query, 'page[number]', 1, Number.MAX_SAFE_INTEGER);
  const pageSize = pageParam(query, 'page[size]', PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX);
  const filters: Array<[string, string]> = [];
  for (const [name, value] of query) {
    if (name === 'filter[record_type]' || name === 'page[number]' || name === 'page[size]') continue;
    const attribute = FILTER.exec(name)?.[1];
    if (attribute === undefined || attribute === 'date_range') throw invalidParam(name, 'the simulator models exact filter[<attribute>]=<value> filters only');
    filters.push([attribute, value]);
  }
  const all = recordType !== 'call-control' ? [] : records
    .map(detailRecordOf)
    .filter((r): r is CallControlDetailRecord => r !== null)
    .filter((r) => filters.every(([attribute, value]) => attribute in r && String(r[attribute as keyof CallControlDetailRecord]) === value))
    .sort((a, b) => b.finished_at.localeCompare(a.finished_at));
  const start = (pageNumber - 1) * pageSize;
  return {
    data: all.slice(start, start + pageSize),
    meta: { total_pages: Math.ceil(all.length / pageSize), total_results: all.length, page_number: pageNumber, page_size: pageSize },
  };
}
