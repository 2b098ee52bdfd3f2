/**
 * Recording of calls (FAQ-02, FAQ-17). On (a deployment's default): the
 * platform sends record_start once per call when it is answered, keeps the
 * URL of the provider's call.recording.saved and downloads the MP3 into the
 * storage directory, SHA-256 checked (RecordingFetcher). Off: record_start
 * is never sent, and a recording the provider saves anyway is not kept.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { Deployment } from './DeploymentRegistry.js';
import { isObject, type Json } from './httpExchange.js';
import type { ProviderClient } from './ProviderClient.js';
import type { RecordingFetcher } from './RecordingFetcher.js';
import { BLANK_RECORDING } from './store/CallStore.js';

/** A provider's leg id as it may be put in a query (Telnyx: a UUID). */
const LEG_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Calls remembered as started: a call that ends on another process is never forgotten here. */
const MAX_STARTED = 100_000;

export interface CallRecordingsOptions {
  provider: Pick<ProviderClient, 'action'>;
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

  /** The call ended: a later record_start would be for nothing. */
  forget(callId: string): void {
    this.#started.delete(callId);
  }

  /** The provider's call.recording.saved: keep its URL and store the file, unless recording was turned off meanwhile. */
  async saved(deployment: Deployment, callId: string, data: Json): Promise<void> {
    const { calls, fetcher, logger } = this.#o;
    const payload = isObject(data['payload']) ? data['payload'] : {};
    const urls = isObject(payload['recording_urls']) ? payload['recording_urls'] : {};
    const url = typeof urls['mp3'] === 'string' ? urls['mp3'].slice(0, 2048) : null;
    const leg = payload['call_leg_id'];
    const legId = typeof leg === 'string' && LEG_ID_PATTERN.test(leg) ? leg : null;
    if (!deployment.recording) {
      logger.info({ deployment: deployment.id, callId }, 'recording saved by the provider while recording is off: not kept');
      return;
    }
    await calls.patchRecording(callId, { url, legId, started: true });
    if (!url || !fetcher) return;
    try {
      const stored = await fetcher.fetch(deployment.id, callId, url);
      await calls.patchRecording(callId, { file: stored.file, sha256: stored.sha256, bytes: stored.bytes, error: null });
      logger.info({ deployment: deployment.id, callId, bytes: stored.bytes, sha256: stored.sha256 }, 'recording stored');
    } catch (err) {
      await calls.patchRecording(callId, { error: isTtmaError(err) ? err.message : 'download failed' });
      logger.warn({ deployment: deployment.id, callId, code: isTtmaError(err) ? err.code : undefined }, 'recording not stored');
    }
  }
}
