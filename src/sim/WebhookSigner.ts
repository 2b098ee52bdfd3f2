/**
 * Ed25519 webhook signing with tweetnacl, off the main thread.
 *
 * tweetnacl signs in about 9 ms here: done inline, two signatures per event
 * would stall the media clock by a whole frame. So signatures are made on a
 * small pool of worker threads (round-robin), and the main thread only posts
 * bytes and awaits. The verifier (gateway, platform) uses node's crypto, so
 * signer and verifier stay independent implementations (DESIGN.md section 8).
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import nacl from 'tweetnacl';

const ED25519_SECRET_KEY_BYTES = 64;
// DER prefix of an Ed25519 PKCS#8 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface WebhookSignerOptions {
  /** Worker threads for tweetnacl (default 1). */
  threads?: number;
  /** `tweetnacl` (default, on worker threads) or `node` (node's crypto, inline: ~0.1 ms). */
  mode?: 'tweetnacl' | 'node';
}

// Eval'd as CommonJS in the worker; tweetnacl's path is resolved by the parent so
// this works from compiled JS and from a TS loader alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const nacl = require(workerData.naclPath);
const secretKey = new Uint8Array(workerData.secretKey);
parentPort.on('message', (msg) => {
  const signature = nacl.sign.detached(new Uint8Array(msg.bytes), secretKey);
  parentPort.postMessage({ id: msg.id, signature }, [signature.buffer]);
});
`;

interface Pending {
  resolve: (signature: Buffer) => void;
  reject: (err: Error) => void;
}

interface SignerThread {
  worker: Worker;
  pending: Map<number, Pending>;
}

export function publicKeyFromSecretKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_BYTES) {
    throw new RangeError(
      `signing secret key must be the 64-byte tweetnacl secret key (seed and public key), got ${secretKey.length} bytes`,
    );
  }
  return nacl.sign.keyPair.fromSecretKey(secretKey).publicKey;
}

export class WebhookSigner {
  readonly publicKey: Uint8Array;
  readonly #threads: SignerThread[] = [];
  readonly #nodeKey: KeyObject | null = null;
  #next = 0;
  #nextId = 1;
  #closed = false;

  constructor(secretKey: Uint8Array, options: WebhookSignerOptions = {}) {
    this.publicKey = publicKeyFromSecretKey(secretKey);
    if (options.mode === 'node') {
      const seed = Buffer.from(secretKey.buffer, secretKey.byteOffset, 32);
      this.#nodeKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
      return;
    }
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 16) {
      throw new RangeError(`signer threads must be an integer from 1 to 16, got ${threads}`);
    }
    const naclPath = createRequire(import.meta.url).resolve('tweetnacl');
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { naclPath, secretKey: Uint8Array.from(secretKey) },
      });
      const thread: SignerThread = { worker, pending: new Map() };
      worker.on('message', (msg: { id: number; signature: Uint8Array }) => {
        const waiter = thread.pending.get(msg.id);
        if (!waiter) return;
        thread.pending.delete(msg.id);
        waiter.resolve(Buffer.from(msg.signature.buffer, msg.signature.byteOffset, msg.signature.byteLength));
      });
      worker.on('error', (err) => this.#failAll(thread, err));
      worker.on('exit', (code) => this.#failAll(thread, new Error(`webhook signer thread exited (code ${code})`)));
      // Idle signer threads must not keep the process alive; in-flight work is awaited by its caller.
      worker.unref();
      this.#threads.push(thread);
    }
  }

  /** Signs `message` (UTF-8 bytes of `${timestamp}|${rawBody}`): the 64-byte detached signature. */
  sign(message: Buffer): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Error('webhook signer is closed'));
    if (this.#nodeKey) return Promise.resolve(cryptoSign(null, message, this.#nodeKey));
    const thread = this.#threads[this.#next++ % this.#threads.length];
    if (!thread) return Promise.reject(new Error('webhook signer has no threads'));
    const id = this.#nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.ref();
      // A copy: small Buffers share a pool and cannot be handed over.
      thread.worker.postMessage({ id, bytes: Uint8Array.from(message) });
    }).finally(() => {
      if (thread.pending.size === 0) thread.worker.unref();
    });
  }

  /** Rejects pending signatures and stops the threads. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#threads.map(async (thread) => {
        this.#failAll(thread, new Error('webhook signer closed'));
        await thread.worker.terminate();
      }),
    );
  }

  #failAll(thread: SignerThread, err: Error): void {
    for (const waiter of thread.pending.values()) waiter.reject(err);
    thread.pending.clear();
  }
}
