/**
 * The simulator's webhook signing key on disk: base64 of the 64-byte
 * tweetnacl Ed25519 secret key (seed, then public key), and beside it the
 * public key as the platform's and the gateway's `--webhook-public-key-file`
 * take it (base64 of 32 bytes, as Telnyx shows its public key:
 * https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks).
 * Kept, it lets the simulator restart without handing a new key around.
 */
import { open, unlink } from 'node:fs/promises';
import nacl from 'tweetnacl';
import { ErrorCodes, TtmaError } from '../errors.js';

export interface WrittenSigningKey {
  file: string;
  publicKeyFile: string;
  publicKeyBase64: string;
}

/** The secret key from a file's text; TTMA_ERR_CONFIG when it is not one. */
export function parseSigningKey(text: string, file: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (bytes.length !== nacl.sign.secretKeyLength) {
    throw new TtmaError(ErrorCodes.CONFIG, `ttma sim: ${file} must hold base64 of the 64-byte tweetnacl Ed25519 secret key (got ${bytes.length} bytes)`);
  }
  const secretKey = new Uint8Array(bytes);
  const derived = nacl.sign.keyPair.fromSeed(secretKey.subarray(0, 32)).publicKey;
  if (!Buffer.from(derived).equals(Buffer.from(secretKey.subarray(32)))) {
    throw new TtmaError(ErrorCodes.CONFIG, `ttma sim: ${file} is not a valid secret key (its public half does not match its seed)`);
  }
  return secretKey;
}

/**
 * A new key pair: the secret key to `file` (0600), the public key to `file.pub` (0644). Neither
 * may exist yet: a key in use is never overwritten.
 */
export async function writeSigningKeyFiles(file: string): Promise<WrittenSigningKey> {
  const publicKeyFile = `${file}.pub`;
  const pair = nacl.sign.keyPair();
  const publicKeyBase64 = Buffer.from(pair.publicKey).toString('base64');
  await writeNew(file, `${Buffer.from(pair.secretKey).toString('base64')}\n`, 0o600);
  try {
    await writeNew(publicKeyFile, `${publicKeyBase64}\n`, 0o644);
  } catch (err) {
    await unlink(file).catch(() => undefined);
    throw err;
  }
  pair.secretKey.fill(0);
  return { file, publicKeyFile, publicKeyBase64 };
}

/** Creates `path` with `mode` (O_EXCL: refused if anything is there, a symlink included). */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EEXIST' ? 'it exists already (a key in use is never overwritten: remove it or name another file)' : code;
    throw new TtmaError(ErrorCodes.CONFIG, `ttma sim: cannot write ${path}: ${why}`, 500, { cause: err });
  }
  try {
    // The umask may have narrowed the mode: set it exactly.
    await handle.chmod(mode);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
