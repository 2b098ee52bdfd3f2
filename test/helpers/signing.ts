/** Test-side webhook signing with tweetnacl: independent of the verifier (node crypto). */
import nacl from 'tweetnacl';

export interface TestSigner {
  publicKeyBase64: string;
  sign(timestamp: string, rawBody: string | Buffer): string;
  headers(rawBody: string, timestampSec?: number): Record<string, string>;
}

export function createSigner(): TestSigner {
  const keys = nacl.sign.keyPair();
  const sign = (timestamp: string, rawBody: string | Buffer) => {
    const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
    const message = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]);
    return Buffer.from(nacl.sign.detached(message, keys.secretKey)).toString('base64');
  };
  return {
    publicKeyBase64: Buffer.from(keys.publicKey).toString('base64'),
    sign,
    headers(rawBody, timestampSec = Math.floor(Date.now() / 1000)) {
      const ts = String(timestampSec);
      return { 'telnyx-signature-ed25519': sign(ts, rawBody), 'telnyx-timestamp': ts, 'content-type': 'application/json' };
    },
  };
}

let eventSeq = 0;

export function webhookBody(eventType: string, payload: Record<string, unknown>, id = `evt-${process.pid}-${++eventSeq}-${Date.now()}`): string {
  return JSON.stringify({
    data: { record_type: 'event', event_type: eventType, id, occurred_at: new Date().toISOString(), payload },
    meta: { attempt: 1, delivered_to: 'test' },
  });
}
