/**
 * Storing a call's recording (src/platform/RecordingFetcher.ts) from a real
 * HTTP server on the loopback: two downloads for one call (two
 * `recording.saved` events) run one after the other instead of spoiling one
 * temporary file, the stored file is the last one's whole body, and no
 * temporary file is left behind, whether a download succeeds or breaks off;
 * and a recording deleted while it downloads is not stored after all.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CallRecordings } from '../../src/platform/CallRecordings.js';
import { CallRegistry } from '../../src/platform/CallRegistry.js';
import type { Deployment } from '../../src/platform/DeploymentRegistry.js';
import { RecordingFetcher } from '../../src/platform/RecordingFetcher.js';
import { capturingLogger } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RecordingFetcher: downloads of one call', () => {
  let server: Server;
  let base: string;
  let dir: string;
  before(async () => {
    // /rec/<letter>: 8 chunks of 1,000 bytes of that letter, 20 ms apart; /broken: half, then the connection is cut.
    server = createServer((req, res) => {
      void (async () => {
        const url = req.url ?? '';
        res.writeHead(200, { 'content-type': 'audio/mpeg' });
        if (url === '/broken') {
          res.write(Buffer.alloc(4_000, 0x43));
          await sleep(20);
          res.socket?.destroy();
          return;
        }
        const fill = url.charCodeAt(url.length - 1);
        for (let i = 0; i < 8; i++) {
          res.write(Buffer.alloc(1_000, fill));
          await sleep(20);
        }
        res.end();
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'ttma-fetcher-'));
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  it('two at once both succeed, one after the other; the stored file is the last one, whole', async () => {
    const fetcher = new RecordingFetcher({ dir, allowedOrigins: [base] });
    const [a, b] = await Promise.all([fetcher.fetch('dep', 'v3:call-1', `${base}/rec/A`), fetcher.fetch('dep', 'v3:call-1', `${base}/rec/B`)]);
    assert.equal(a.sha256, sha(Buffer.alloc(8_000, 0x41)));
    assert.equal(b.sha256, sha(Buffer.alloc(8_000, 0x42)));
    assert.equal(a.file, b.file);
    assert.equal(sha(readFileSync(join(dir, b.file))), b.sha256, 'the file on disk is the last download, whole');
    assert.deepEqual(readdirSync(join(dir, 'dep')), ['v3_call-1.mp3'], 'no temporary file left');
  });

  it('a download that breaks off leaves the stored copy as it was and no temporary file', async () => {
    const fetcher = new RecordingFetcher({ dir, allowedOrigins: [base] });
    const good = await fetcher.fetch('dep', 'v3:call-2', `${base}/rec/A`);
    await assert.rejects(fetcher.fetch('dep', 'v3:call-2', `${base}/broken`), /broke off/);
    assert.equal(sha(readFileSync(join(dir, good.file))), good.sha256);
    assert.deepEqual(readdirSync(join(dir, 'dep')).filter((name) => name.includes('call-2')), ['v3_call-2.mp3']);
  });
});

describe('a recording deleted while it is being stored', () => {
  it('is not stored after all: the copy just made is removed and the record stays deleted', async () => {
    const server = createServer((_req, res) => {
      void (async () => {
        res.writeHead(200, { 'content-type': 'audio/mpeg' });
        for (let i = 0; i < 10; i++) {
          res.write(Buffer.alloc(1_000, 1));
          await sleep(30);
        }
        res.end();
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), 'ttma-recdel-'));
    try {
      const calls = new CallRegistry();
      const provider = { action: async () => undefined, deleteRecordings: async (ids: string[]) => ids } as unknown as ConstructorParameters<typeof CallRecordings>[0]['provider'];
      const recordings = new CallRecordings({ provider, calls, fetcher: new RecordingFetcher({ dir, allowedOrigins: [base] }), logger: capturingLogger().logger });
      const deployment = { id: 'dep-a', recording: true } as Deployment;
      const id = 'v3:call-deleted-while-stored';
      const facts = { direction: 'outgoing' as const, from: '+15550001111', to: '+15550002222' };
      await calls.lock(id, deployment.id, facts);
      await calls.recordEvent(id, facts, { event_type: 'call.hangup', occurred_at: new Date().toISOString() });
      const saving = recordings.saved(deployment, id, { payload: { recording_urls: { mp3: `${base}/r/abc.mp3` }, call_leg_id: 'leg-1', recording_id: 'r1' } });
      // Deleted by the deployment while the download runs (it takes some 300 ms).
      await sleep(100);
      await recordings.remove((await calls.get(id))!, 'deployment');
      await saving;
      const rec = (await calls.get(id))!.recording!;
      assert.equal(rec.discarded, 'deleted by the deployment');
      assert.equal(rec.file, null);
      assert.deepEqual(readdirSync(join(dir, 'dep-a')), [], 'nothing kept on disk');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
