/**
 * Recording of calls (FAQ-02, FAQ-17). On (a deployment's default): the
 * platform sends record_start once per call when it is answered, keeps the
 * URL of the provider's call.recording.saved and downloads the MP3 into the
 * storage directory, SHA-256 checked (RecordingFetcher). Off: record_start
 * is never sent. Turned off during a call: record_stop goes to each of the
 * deployment's live calls being recorded. A recording the provider saves
 * while recording is off is not kept here, and is deleted at the provider
 * too ("when it's off, no audio is kept").
 */
import { ErrorCodes, isTtmaError, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { Deployment } from './DeploymentRegistry.js';
import { isObject, type Json } from './httpExchange.js';
import type { ProviderClient } from './ProviderClient.js';
import type { RecordingFetcher } from './RecordingFetcher.js';
import { BLANK_RECORDING } from './store/CallStore.js';
import type { RecordingsDeleted } from '../wire/platformApi.js';

/** A provider's leg id as it may be put in a query (Telnyx: a UUID). */
const LEG_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** What deleting a recording did (the answer of every delete route). */
export interface RemovedRecording {
  call_control_id: string;
  stored_file_deleted: boolean;
  provider_recordings_deleted: number;
  /** Set when there was nothing left to delete: why it was already gone. */
  already: string | null;
}

/**
 * A recording id in the simulator's download URL (`/sim/recordings/<32 hex>.mp3`). Telnyx's
 * pre-signed URLs name none we rely on: its copies are found by the call leg.
 */
function recordingIdsIn(url: string | null): string[] {
  const id = url ? /\/recordings\/([0-9a-f]{32})\.mp3(?:\?|$)/.exec(url)?.[1] : undefined;
  return id ? [id] : [];
}

const TURNED_OFF = 'recording turned off during the call';
const OFF_WHEN_SAVED = 'recorded by the provider while recording was off';

/**
 * A delete-all pass stops starting deletions after this long (and says there
 * is more): each is a provider request, and the pass answers the gateway,
 * whose requests give up after 5 s without an answer.
 */
const PASS_BUDGET_MS = 3_000;
/** Call records read at a time by a delete-all pass. */
const LIST_PAGE = 500;
/** Calls remembered as started: a call that ends on another process is never forgotten here. */
const MAX_STARTED = 100_000;

export interface CallRecordingsOptions {
  provider: Pick<ProviderClient, 'action' | 'deleteRecordings'>;
  calls: CallRegistry;
  /** null: no storage directory, so URLs are kept and nothing is downloaded. */
  fetcher: RecordingFetcher | null;
  logger: Logger;
}

export class CallRecordings {
  readonly #o: CallRecordingsOptions;
  /** Calls record_start was already sent for (until they end). */
  readonly #started = new Set<string>();

  constructor(options: CallRecordingsOptions) {
    this.#o = options;
  }

  /** record_start once per call, when recording is on. A failure leaves the call running unrecorded. */
  async start(deployment: Deployment, callId: string): Promise<void> {
    if (!deployment.recording || this.#started.has(callId)) return;
    this.#started.add(callId);
    if (this.#started.size > MAX_STARTED) this.#started.delete(this.#started.values().next().value as string);
    const { calls, provider, logger } = this.#o;
    await calls.patchRecording(callId, { ...BLANK_RECORDING });
    try {
      await provider.action(callId, 'record_start', { format: 'mp3', channels: 'single' });
      await calls.patchRecording(callId, { started: true });
    } catch (err) {
      await calls.patchRecording(callId, { error: isTtmaError(err) ? err.message : 'record_start failed' });
      logger.warn({ deployment: deployment.id, callId }, 'record_start failed: the call continues unrecorded');
    }
  }

  /**
   * Recording was turned off: record_stop to each of the deployment's live
   * calls still being recorded (`live`, from liveCallsOf). Each is marked
   * discarded first, so a second switch does not stop it again; the
   * provider's saved copy is deleted when its event arrives (saved()).
   * Returns how many calls were stopped.
   */
  async stopLive(deployment: Deployment, live: readonly CallRecord[]): Promise<number> {
    const { calls, provider, logger } = this.#o;
    let stopped = 0;
    for (const record of live) {
      const rec = record.recording;
      if (!rec?.started || rec.url !== null || rec.discarded) continue;
      const callId = record.callControlId;
      await calls.patchRecording(callId, { discarded: TURNED_OFF });
      try {
        await provider.action(callId, 'record_stop');
        stopped += 1;
        logger.info({ audit: true, deployment: deployment.id, callId }, 'recording turned off: record_stop sent');
      } catch (err) {
        // The call may have just ended; its saved recording is deleted all the same when it arrives.
        logger.warn({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'record_stop failed');
      }
    }
    return stopped;
  }

  /** A recording saved while recording is off: marked discarded, and deleted at the provider. */
  async #discard(deployment: Deployment, callId: string, ids: string[], legId: string | null): Promise<void> {
    const { calls, provider, logger } = this.#o;
    const before = (await calls.get(callId))?.recording;
    await calls.patchRecording(callId, { discarded: before?.discarded ?? (before?.started ? TURNED_OFF : OFF_WHEN_SAVED), url: null });
    try {
      const deleted = await provider.deleteRecordings(ids, legId);
      logger.info({ audit: true, deployment: deployment.id, callId, deleted: deleted.length }, 'recording saved while recording is off: not kept, deleted at the provider');
    } catch (err) {
      await calls.patchRecording(callId, { error: `not deleted at the provider: ${isTtmaError(err) ? err.message : 'delete failed'}` });
      logger.warn({ audit: true, deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'recording saved while recording is off: not kept, but deleting it at the provider failed');
    }
  }

  /**
   * Deletes a call's recording for good, asked for by its deployment or the
   * operator: the provider's copies first (so a failure there changes
   * nothing here and can be retried), then the stored file, then the record
   * says it was deleted. A call still being recorded is refused: its
   * recording does not exist yet (turning recording off stops it). A call
   * that ended before the provider saved its recording is marked, and the
   * recording is deleted at the provider when it arrives (saved()).
   */
  async remove(record: CallRecord, by: 'deployment' | 'operator'): Promise<RemovedRecording> {
    const { calls, provider, fetcher, logger } = this.#o;
    const rec = record.recording;
    const callId = record.callControlId;
    if (!rec || (!rec.url && !rec.file && !rec.legId && !rec.started)) throw new TtmaError(ErrorCodes.NOT_FOUND, 'this call has no recording', 404);
    if (rec.discarded && !rec.url && !rec.file) return { call_control_id: callId, stored_file_deleted: false, provider_recordings_deleted: 0, already: rec.discarded };
    if (record.state !== 'ended' && !rec.url) {
      throw new TtmaError(ErrorCodes.CONFLICT, 'the call is still being recorded: turn recording off to stop it, or delete the recording after the call', 409);
    }
    if (rec.file && !fetcher) {
      throw new TtmaError(ErrorCodes.CONFIG, 'the stored copy is in a recordings directory this platform was not started with (--recordings-dir)', 503);
    }
    const deleted = await provider.deleteRecordings(recordingIdsIn(rec.url), rec.legId);
    const storedFileDeleted = rec.file && fetcher ? await fetcher.remove(rec.file) : false;
    await calls.patchRecording(callId, { url: null, file: null, sha256: null, bytes: null, error: null, discarded: `deleted by the ${by}` });
    logger.info({ audit: true, deployment: record.deploymentId, callId, by, provider: deleted.length, stored: storedFileDeleted }, 'recording deleted');
    return { call_control_id: callId, stored_file_deleted: storedFileDeleted, provider_recordings_deleted: deleted.length, already: null };
  }

  /**
   * One pass over the deployment's calls, newest first: deletes each
   * recording still kept (a URL, a stored copy, or one the provider has yet
   * to announce for an ended call), at most `max` of them and none started
   * after `budgetMs`. A failure is counted and left kept. `from` is where an
   * earlier pass stopped (its `next_from`): the records before it were tried
   * already, so a run of passes tries each once and failures at the front
   * never hide the rest; a pass from 0 retries them. Calls being recorded are
   * counted over the whole list, not touched (remove() refuses them).
   */
  async removeKept(deploymentId: string, by: 'deployment' | 'operator', max: number, options: { from?: number; budgetMs?: number } = {}): Promise<RecordingsDeleted> {
    const { calls, logger } = this.#o;
    const from = options.from ?? 0;
    const result: RecordingsDeleted = { deleted: 0, failed: 0, more: false, recording_now: 0 };
    const until = performance.now() + (options.budgetMs ?? PASS_BUDGET_MS);
    // Positions in the listing, newest first: a deletion keeps the record (marked discarded), so they hold
    // between passes; a call arriving meanwhile (or a record expiring) moves a record by one the safe way (tried twice, never skipped).
    for (let offset = 0; ; offset += LIST_PAGE) {
      const page = await calls.list({ deploymentId, limit: LIST_PAGE, offset });
      for (const [index, record] of page.entries()) {
        const rec = record.recording;
        if (!rec || rec.discarded) continue;
        const ended = record.state === 'ended';
        if (!rec.url && !rec.file && !(rec.started && ended)) {
          if (rec.started) result.recording_now += 1;
          continue;
        }
        if (!ended && !rec.url) {
          result.recording_now += 1;
          continue;
        }
        const position = offset + index;
        if (position < from) continue;
        if (result.deleted + result.failed >= max || performance.now() >= until) {
          if (!result.more) result.next_from = position;
          result.more = true;
          continue;
        }
        try {
          await this.remove(record, by);
          result.deleted += 1;
        } catch (err) {
          result.failed += 1;
          logger.warn({ deployment: deploymentId, callId: record.callControlId, code: isTtmaError(err) ? err.code : undefined }, 'recording not deleted in a delete-all pass');
        }
      }
      if (page.length < LIST_PAGE) return result;
    }
  }

  /** The call ended: a later record_start would be for nothing. */
  forget(callId: string): void {
    this.#started.delete(callId);
  }

  /**
   * The provider's call.recording.saved: keep its URL and store the file,
   * unless recording was turned off meanwhile or the call's recording was
   * discarded (stopped by the switch, deleted before it was saved): then it
   * is deleted at the provider.
   */
  async saved(deployment: Deployment, callId: string, data: Json): Promise<void> {
    const { calls, fetcher, logger } = this.#o;
    const payload = isObject(data['payload']) ? data['payload'] : {};
    const urls = isObject(payload['recording_urls']) ? payload['recording_urls'] : {};
    const url = typeof urls['mp3'] === 'string' ? urls['mp3'].slice(0, 2048) : null;
    const leg = payload['call_leg_id'];
    const legId = typeof leg === 'string' && LEG_ID_PATTERN.test(leg) ? leg : null;
    // Off now, or this call's recording was stopped or deleted before the provider saved it.
    if (!deployment.recording || (await calls.get(callId))?.recording?.discarded) {
      const id = payload['recording_id'];
      await this.#discard(deployment, callId, typeof id === 'string' ? [id] : [], legId);
      return;
    }
    await calls.patchRecording(callId, { url, legId, started: true });
    if (!url || !fetcher) return;
    try {
      const stored = await fetcher.fetch(deployment.id, callId, url);
      // Deleted (or switched off) while it downloaded: the copy just made goes too, never onto the record.
      if ((await calls.get(callId))?.recording?.discarded) {
        await fetcher.remove(stored.file);
        logger.info({ audit: true, deployment: deployment.id, callId }, 'recording deleted while it was being stored: the stored copy removed');
        return;
      }
      await calls.patchRecording(callId, { file: stored.file, sha256: stored.sha256, bytes: stored.bytes, error: null });
      logger.info({ deployment: deployment.id, callId, bytes: stored.bytes, sha256: stored.sha256 }, 'recording stored');
    } catch (err) {
      await calls.patchRecording(callId, { error: isTtmaError(err) ? err.message : 'download failed' });
      logger.warn({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'recording not stored');
    }
  }
}
