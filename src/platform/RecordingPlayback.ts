/**
 * Plays a call's recording to the operator's dashboard (FAQ-17: "stored by
 * our telephony provider and played back through the dashboard").
 *
 * Where the bytes come from, in order:
 * 1. the copy in the recordings directory, when one was stored: opened
 *    without following links, its size and SHA-256 checked against the call
 *    record before its first byte is served (once per file and change);
 * 2. the provider: the URL of its `call.recording.saved`, and when that has
 *    expired (Telnyx's last 10 minutes) a fresh one from its recordings API.
 *    Only the provider's own origins are fetched, never with the API key
 *    (the URLs are pre-signed), without redirects, at most `maxBytes`.
 *
 * A single byte range is served (206), so the browser can seek. Anything
 * that fails before the first byte is a typed error (the caller answers it
 * as JSON); a failure after it ends the response short.
 */
import { constants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { recordingUrlOn, sha256OfHandle } from './RecordingFetcher.js';
import { contentRange, forwardableRange, parseByteRange, parseContentRange } from './httpRange.js';
import type { CallRecording } from './store/CallStore.js';

export interface RecordingPlaybackOptions {
  /** The recordings directory (RecordingFetcher's); null: nothing is stored locally. */
  dir: string | null;
  /** Origins a recording may be fetched from (the provider's API and its storage). */
  allowedOrigins: string[];
  /** A fresh pre-signed URL for a leg's recording (ProviderClient.recordingDownloadUrl). */
  freshUrl: (legId: string) => Promise<string | null>;
  logger: Logger;
  maxBytes?: number;
  /** How long the provider may take to start answering. */
  timeoutMs?: number;
  now?: () => number;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A fresh URL is reused this long (Telnyx's last 10 minutes): a seeking browser asks many times. */
const FRESH_URL_REUSE_MS = 5 * 60_000;
const MAX_REMEMBERED = 1_000;

const AUDIO_HEADERS = {
  'content-type': 'audio/mpeg',
  'cache-control': 'private, no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'",
} as const;

/** Statuses a pre-signed URL answers once it has expired or was withdrawn. */
const EXPIRED = new Set([401, 403, 404, 410]);

export class RecordingPlayback {
  readonly #o: RecordingPlaybackOptions;
  readonly #origins: Set<string>;
  readonly #maxBytes: number;
  /** Files whose SHA-256 matched, by path, size, inode and mtime: a changed file is checked again. */
  readonly #verified = new Set<string>();
  /** callId -> a fresh URL and until when it is reused. */
  readonly #fresh = new Map<string, { url: string; until: number }>();

  constructor(options: RecordingPlaybackOptions) {
    this.#o = options;
    this.#origins = new Set(options.allowedOrigins.map((o) => new URL(o).origin));
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Answers the request with the recording, or throws before anything is sent. */
  async serve(req: IncomingMessage, res: ServerResponse, callId: string, recording: CallRecording | null): Promise<'file' | 'provider'> {
    if (!recording || (!recording.file && !recording.url && !recording.legId)) {
      throw new TtmaError(ErrorCodes.NOT_FOUND, 'no recording for this call', 404);
    }
    // Deleted or turned off: the leg id alone must not bring it back from the provider.
    if (recording.discarded) throw new TtmaError(ErrorCodes.NOT_FOUND, `no recording for this call: ${recording.discarded}`, 404);
    const range = singleRangeHeader(req);
    if (recording.file && this.#o.dir) {
      const handle = await this.#openStored(recording.file);
      if (handle) {
        await this.#serveFile(res, handle, recording, range);
        return 'file';
      }
      this.#o.logger.warn({ callId }, 'stored recording file is missing: playing it from the provider');
    }
    await this.#serveFromProvider(res, callId, recording, range);
    return 'provider';
  }

  // ---- the stored copy ----

  async #openStored(file: string): Promise<FileHandle | null> {
    const root = resolve(this.#o.dir ?? '');
    const path = resolve(root, file);
    if (!path.startsWith(root + sep)) throw integrity('stored recording path leaves the recordings directory: not played');
    try {
      return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw integrity('stored recording cannot be opened (a link, or no permission): not played');
    }
  }

  async #serveFile(res: ServerResponse, handle: FileHandle, recording: CallRecording, rangeHeader: string | undefined): Promise<void> {
    let handedOver = false;
    try {
      const stat = await handle.stat();
      if (!stat.isFile() || stat.size !== recording.bytes) throw integrity('stored recording changed size on disk: not played');
      const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      if (!this.#verified.has(key)) {
        if ((await sha256OfHandle(handle)) !== recording.sha256) throw integrity('stored recording does not match its SHA-256: not played');
        remember(this.#verified, key);
      }
      const range = parseByteRange(rangeHeader, stat.size);
      if (range === 'unsatisfiable') return unsatisfiable(res, stat.size);
      const headers: Record<string, string> = { ...AUDIO_HEADERS, 'accept-ranges': 'bytes' };
      const start = range?.start ?? 0;
      const end = range?.end ?? stat.size - 1;
      headers['content-length'] = String(stat.size === 0 ? 0 : end - start + 1);
      if (range) headers['content-range'] = contentRange(range, stat.size);
      res.writeHead(range ? 206 : 200, headers);
      if (stat.size === 0) {
        res.end();
        return;
      }
      handedOver = true;
      await pipeline(createReadStream('', { fd: handle, start, end, autoClose: true }), res).catch(() => res.destroy());
    } finally {
      if (!handedOver) await handle.close();
    }
  }

  // ---- the provider's copy ----

  async #serveFromProvider(res: ServerResponse, callId: string, recording: CallRecording, rangeHeader: string | undefined): Promise<void> {
    const range = forwardableRange(rangeHeader);
    const reused = this.#fresh.get(callId);
    let url = reused && reused.until > this.#now() ? reused.url : recording.url;
    let refreshed = url !== recording.url;
    if (!url) {
      url = await this.#refresh(callId, recording);
      refreshed = true;
    }
    let upstream = await this.#fetch(url, range);
    if (EXPIRED.has(upstream.status) && !refreshed && recording.legId) {
      await upstream.body?.cancel().catch(() => undefined);
      upstream = await this.#fetch(await this.#refresh(callId, recording), range);
    }
    await this.#relay(res, upstream);
  }

  async #refresh(callId: string, recording: CallRecording): Promise<string> {
    if (!recording.legId) throw unavailable('the provider no longer serves this recording, and it was saved without a leg id to ask for a new link');
    let url: string | null;
    try {
      url = await this.#o.freshUrl(recording.legId);
    } catch (err) {
      throw unavailable(`the provider's recordings API failed (${err instanceof TtmaError ? err.message : 'error'})`);
    }
    if (!url) throw new TtmaError(ErrorCodes.NOT_FOUND, 'the provider has no recording for this call any more', 404);
    this.#fresh.set(callId, { url, until: this.#now() + FRESH_URL_REUSE_MS });
    if (this.#fresh.size > MAX_REMEMBERED) this.#fresh.delete(this.#fresh.keys().next().value as string);
    return url;
  }

  async #fetch(rawUrl: string, range: string | null): Promise<Response> {
    const url = recordingUrlOn(rawUrl, this.#origins, 'fetched');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      // No authorization header: the URL is pre-signed, and the API key never leaves for storage.
      return await fetch(url, { redirect: 'error', signal: controller.signal, headers: range ? { range } : {} });
    } catch (err) {
      throw unavailable(`recording fetch failed (${(err as Error).name})`);
    } finally {
      clearTimeout(timer);
    }
  }

  async #relay(res: ServerResponse, upstream: Response): Promise<void> {
    const type = upstream.headers.get('content-type') ?? '';
    const declared = upstream.headers.get('content-length');
    const length = declared === null ? null : Number(declared);
    const refuse = async (message: string): Promise<never> => {
      await upstream.body?.cancel().catch(() => undefined);
      throw unavailable(message);
    };
    if (upstream.status === 416) {
      const total = /^bytes \*\/(\d{1,15})$/.exec(upstream.headers.get('content-range') ?? '');
      await upstream.body?.cancel().catch(() => undefined);
      return unsatisfiable(res, total ? Number(total[1]) : null);
    }
    if (upstream.status !== 200 && upstream.status !== 206) return refuse(`the provider answered HTTP ${upstream.status} for the recording`);
    if (!/^audio\/(mpeg|mp3)\b/i.test(type)) return refuse('the provider did not answer audio/mpeg');
    if (length !== null && (!Number.isSafeInteger(length) || length < 0 || length > this.#maxBytes)) return refuse(`recording larger than ${this.#maxBytes} bytes`);
    const headers: Record<string, string> = { ...AUDIO_HEADERS };
    if (length !== null) headers['content-length'] = String(length);
    if (upstream.headers.get('accept-ranges') === 'bytes') headers['accept-ranges'] = 'bytes';
    if (upstream.status === 206) {
      const parsed = parseContentRange(upstream.headers.get('content-range') ?? undefined);
      if (!parsed || (length !== null && length !== parsed.range.end - parsed.range.start + 1)) return refuse('the provider answered a malformed byte range');
      headers['content-range'] = contentRange(parsed.range, parsed.size);
    }
    res.writeHead(upstream.status, headers);
    if (!upstream.body) {
      res.end();
      return;
    }
    const limit = length ?? this.#maxBytes;
    let sent = 0;
    const body = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const bounded = async function* (source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        sent += chunk.length;
        // More than the provider declared, or than we take: cut short, never pass it on.
        if (sent > limit) throw new Error('recording longer than declared');
        yield chunk;
      }
    };
    await pipeline(body, bounded, res).catch(() => res.destroy());
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/** The request's Range header when it came once; repeated, it is ignored. */
function singleRangeHeader(req: IncomingMessage): string | undefined {
  const value = req.headers.range;
  return typeof value === 'string' ? value : undefined;
}

function unsatisfiable(res: ServerResponse, size: number | null): void {
  res.writeHead(416, { ...AUDIO_HEADERS, 'content-length': '0', ...(size === null ? {} : { 'content-range': `bytes */${size}` }) });
  res.end();
}

function remember(set: Set<string>, key: string): void {
  set.add(key);
  if (set.size > MAX_REMEMBERED) set.delete(set.values().next().value as string);
}

/** Our stored copy is not what we stored: refused, and worth an operator's look. */
function integrity(message: string): TtmaError {
  return new TtmaError(ErrorCodes.RECORDING, message, 500);
}

function unavailable(message: string): TtmaError {
  return new TtmaError(ErrorCodes.RECORDING, message, 502);
}
