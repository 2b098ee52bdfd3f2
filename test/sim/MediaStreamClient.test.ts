/**
 * The simulator's media client reads the gateway's `media` frames in place
 * (src/wire/mediaFrameScan.ts) and parses everything else: both readings must
 * give the same audio, and the slow path still judges what the fast one
 * declines. A real `ws` server on loopback plays the gateway's side.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../src/log.js';
import { createSimEncoder } from '../../src/sim/codecs.js';
import { MediaStreamClient } from '../../src/sim/MediaStreamClient.js';

function tone(samples: number): Int16Array {
  const pcm = new Int16Array(samples);
  for (let i = 0; i < samples; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
  return pcm;
}

for (const socket of ['ws', 'raw'] as const) test(`media frames read in place and media frames parsed give the same audio; other events still parse (${socket} client)`, { timeout: 10_000 }, async () => {
  const payload = Buffer.from(createSimEncoder('PCMU').encode(tone(160))).toString('base64');
  const frames = [
    `{"event":"media","media":{"payload":"${payload}"}}`,
    // An escaped slash is valid JSON the in-place reader declines: JSON.parse reads it.
    `{"event":"media","media":{"payload":"${payload.replaceAll('/', '\\/')}"}}`,
    `{ "event" : "media" , "media" : { "track" : "outbound", "payload" : "${payload}" } }`,
    '{"event":"mark","mark":{"name":"turn-1"}}',
    '{"event":"media","media":{"payload":""}}',
    '{"event":"surprise"}',
  ];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  server.on('connection', (socket) => {
    for (const frame of frames) socket.send(frame);
  });
  const media: Int16Array[] = [];
  const marks: string[] = [];
  const malformed: string[] = [];
  let done!: () => void;
  const allIn = new Promise<void>((resolve) => (done = resolve));
  const check = () => {
    if (media.length + marks.length + malformed.length === frames.length) done();
  };
  const client = new MediaStreamClient({
    target: new URL(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/media/x`),
    tunnelHost: null,
    tunnelHeaders: false,
    token: undefined,
    codec: 'PCMU',
    returnCodec: 'PCMU',
    socket,
    logger: createLogger('test', 'silent'),
    handlers: {
      onOpen: () => {},
      onConnectFailed: (reason) => assert.fail(reason),
      onPeerClosed: () => {},
      onMedia: (pcm) => {
        // The decoder reuses its output: keep a copy.
        media.push(pcm.slice());
        check();
      },
      onMark: (name) => {
        marks.push(name);
        check();
      },
      onClear: () => {},
      onMalformed: (why) => {
        malformed.push(why);
        check();
      },
    },
  });
  try {
    client.connect();
    await allIn;
    assert.equal(media.length, 3);
    assert.equal(media[0]!.length, 160);
    assert.ok(media[0]!.some((sample) => Math.abs(sample) > 4000), 'the tone came through');
    assert.deepEqual(media[1], media[0], 'the parsed frame decodes to the same audio');
    assert.deepEqual(media[2], media[0], 'spaced JSON too');
    assert.deepEqual(marks, ['turn-1']);
    assert.deepEqual(malformed, ['media frame without a base64 payload', 'unknown event "surprise"']);
  } finally {
    client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
