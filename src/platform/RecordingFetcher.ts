/**
 * Downloads a call's recording from the provider into the storage
 * directory (FAQ-02): only from the provider's own origins, at most
 * `maxBytes`, written to a temporary file of its own while hashing, read back
 * and checked against the SHA-256 of the bytes received, then renamed into
 * place, so a stored recording is known complete and intact. Downloads for
 * the same call run one after the other (two `recording.saved` events for one
 * call, the gateway's record_start and the platform's, once shared one
 * temporary file and spoilt each other).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ErrorCodes, TtmaError } from '../errors.js';

export interface RecordingFetcherOptions {
  dir: string;
  /** Origins a recording may come from (`https://api.telnyx.com`); anything else is refused. */
  allowedOrigins: string[];
  maxBytes?: number;
  timeoutMs?: number;
}

export interface StoredRecording {
  /** Relative to the recordings directory. */
  file: string;
  sha256: string;
  bytes: number;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 60_000;
const SAFE_NAME = /[^A-Za-z0-9_-]/g;

export class RecordingFetcher {
  readonly #dir: string;
  readonly #origins: Set<string>;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  /** The download under way per stored file: the next one for that file waits for it. */
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(options: RecordingFetcherOptions) {
    this.#dir = options.dir;
    this.#origins = new Set(options.allowedOrigins.map((o) => new URL(o).origin));
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get dir(): string {
    return this.#dir;
  }

  /**
   * Deletes a stored recording (a path relative to the directory, as the
   * call record holds it); false when it was already gone. A path that
   * would leave the directory is refused, never followed.
   */
  async remove(file: string): Promise<boolean> {
    const root = resolve(this.#dir);
    const path = resolve(root, file);
    if (!path.startsWith(`${root}${sep}`) || !path.endsWith('.mp3')) throw refuse('stored recording path is outside the recordings directory');
    try {
      await unlink(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw refuse(`stored recording not deleted (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }

  async fetch(deploymentId: string, callControlId: string, rawUrl: string): Promise<StoredRecording> {
    const url = recordingUrlOn(rawUrl, this.#origins, 'downloaded');
    const key = `${deploymentId}\n${callControlId}`;
    const before = this.#inFlight.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.#download(deploymentId, callControlId, url));
    this.#inFlight.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#inFlight.get(key) === mine) this.#inFlight.delete(key);
    }
  }

  async #download(deploymentId: string, callControlId: string, url: URL): Promise<StoredRecording> {
    const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.#timeoutMs) }).catch((err: Error) => {
      throw refuse(`recording download failed (${err.name})`);
    });
    if (response.status !== 200 || !response.body) throw refuse(`recording download answered HTTP ${response.status}`);
    const type = response.headers.get('content-type') ?? '';
    if (!/^audio\/(mpeg|mp3)\b/i.test(type)) throw refuse('recording is not audio/mpeg');
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > this.#maxBytes) throw refuse(`recording larger than ${this.#maxBytes} bytes`);

    const folder = join(this.#dir, deploymentId.replace(SAFE_NAME, '_'));
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const name = `${callControlId.replace(SAFE_NAME, '_')}.mp3`;
    const finalPath = join(folder, name);
    const partPath = `${finalPath}.${randomBytes(6).toString('hex')}.part`;
    const hash = createHash('sha256');
    let bytes = 0;
    const file = await open(partPath, 'w', 0o600);
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        if (bytes > this.#maxBytes) throw refuse(`recording larger than ${this.#maxBytes} bytes`);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } catch (err) {
      await file.close();
      await rm(partPath, { force: true });
      throw err instanceof TtmaError ? err : refuse('recording download broke off');
    }
    await file.close();
    const sha256 = hash.digest('hex');
    // Checked before it takes the stored name, so a bad copy never replaces a good one.
    if ((await sha256OfFile(partPath)) !== sha256) {
      await rm(partPath, { force: true });
      throw refuse('stored recording does not match the SHA-256 of the bytes received');
    }
    await rename(partPath, finalPath).catch(async (err: NodeJS.ErrnoException) => {
      await rm(partPath, { force: true });
      throw refuse(`stored recording not put in place (${err.code ?? 'error'})`);
    });
    return { file: join(deploymentId.replace(SAFE_NAME, '_'), name), sha256, bytes };
  }
}

/** The URL when it is on one of `origins` with no credentials; otherwise TTMA_ERR_RECORDING (502). */
export function recordingUrlOn(rawUrl: string, origins: ReadonlySet<string>, what: 'downloaded' | 'fetched'): URL {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw refuse('recording URL is not a URL');
  }
  if (!origins.has(url.origin) || url.username || url.password) throw refuse(`recording URL is not on the provider's origin: not ${what}`);
  return url;
}

/** Telnyx's API host: its recording URLs are pre-signed S3 URLs (`https://s3.amazonaws.com/telnyx-recordings/...`). */
const TELNYX_API_HOST = 'api.telnyx.com';
const TELNYX_RECORDING_ORIGIN = 'https://s3.amazonaws.com';

/**
 * The origins recordings may come from by default: the provider's API
 * origin (the simulator serves them there), and for Telnyx the S3 origin its
 * recording URLs point at. Only signed provider events and the provider's own
 * API name recording URLs, so this is a second check, not the first.
 */
export function recordingOriginsFor(providerBaseUrl: string): string[] {
  const api = new URL(providerBaseUrl);
  return api.hostname === TELNYX_API_HOST ? [api.origin, TELNYX_RECORDING_ORIGIN] : [api.origin];
}

/** Each must be a bare origin: https://, or http:// on the loopback (the simulator). */
export function checkRecordingOrigins(origins: string[]): string[] {
  if (origins.length === 0) throw new TtmaError(ErrorCodes.CONFIG, 'recordingOrigins must name at least one origin');
  return origins.map((raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new TtmaError(ErrorCodes.CONFIG, `recording origin ${JSON.stringify(raw.slice(0, 100))} is not a URL`);
    }
    const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
    const bare = url.origin === raw.replace(/\/$/, '') && !url.username && !url.password;
    if (!bare || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
      throw new TtmaError(ErrorCodes.CONFIG, `recording origin ${JSON.stringify(raw.slice(0, 100))} must be https://host[:port] (http:// only on the loopback), with no path`);
    }
    return url.origin;
  });
}

/** SHA-256 (hex) of a file: the stored copy checked after download and before playback. */
export async function sha256OfFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    return await sha256OfHandle(handle);
  } finally {
    await handle.close();
  }
}

/** SHA-256 (hex) of an open file from its first byte, read by position (the handle's offset is untouched). */
export async function sha256OfHandle(handle: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(256 * 1024);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

function refuse(message: string): TtmaError {
  return new TtmaError(ErrorCodes.RECORDING, message, 502);
}
