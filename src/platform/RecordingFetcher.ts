/**
 * Downloads a call's recording from the provider into the storage
 * directory (FAQ-02): only from the provider's own origins, at most
 * `maxBytes`, written to a temporary file while hashing, then renamed, then
 * read back and checked against the SHA-256 of the bytes received, so a
 * stored recording is known complete and intact.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
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

  constructor(options: RecordingFetcherOptions) {
    this.#dir = options.dir;
    this.#origins = new Set(options.allowedOrigins.map((o) => new URL(o).origin));
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get dir(): string {
    return this.#dir;
  }

  async fetch(deploymentId: string, callControlId: string, rawUrl: string): Promise<StoredRecording> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw refuse('recording URL is not a URL');
    }
    if (!this.#origins.has(url.origin) || url.username || url.password) {
      throw refuse("recording URL is not on the provider's origin: not downloaded");
    }
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
    const partPath = `${finalPath}.part`;
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
    await rename(partPath, finalPath);
    const onDisk = await sha256OfFile(finalPath);
    if (onDisk !== sha256) {
      await rm(finalPath, { force: true });
      throw refuse('stored recording does not match the SHA-256 of the bytes received');
    }
    return { file: join(deploymentId.replace(SAFE_NAME, '_'), name), sha256, bytes };
  }
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function refuse(message: string): TtmaError {
  return new TtmaError(ErrorCodes.RECORDING, message, 502);
}
