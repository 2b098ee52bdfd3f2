import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { uws, type us_listen_socket } from '../../src/front/uws.js';
import { CLOSE_REASON_MAX_BYTES, closeReason } from '../../src/wire/closeReason.js';

test('a reason within 123 bytes is kept; a longer one is cut by bytes, never inside a character', () => {
  assert.equal(closeReason('call ended'), 'call ended');
  assert.equal(closeReason('a'.repeat(123)), 'a'.repeat(123));
  assert.equal(closeReason('a'.repeat(200)), 'a'.repeat(123));
  for (const unit of ['é', '€', '😀', 'a€', 'ab😀']) {
    for (const pad of [0, 1, 2, 3]) {
      const cut = closeReason('x'.repeat(pad) + unit.repeat(100));
      const bytes = Buffer.byteLength(cut, 'utf8');
      assert.ok(bytes <= CLOSE_REASON_MAX_BYTES && bytes > CLOSE_REASON_MAX_BYTES - 4, `${unit} after ${pad}: ${bytes} bytes`);
      assert.ok(!cut.includes('\ufffd'), `${unit} after ${pad}: a character was split`);
      assert.ok(('x'.repeat(pad) + unit.repeat(100)).startsWith(cut));
    }
  }
});

test('over a real uWS socket, a long non-ASCII reason arrives with its code (uWS would otherwise cut it into invalid UTF-8: 1006)', async () => {
  const reason = `TTMA_ERR_CODEC_UNSUPPORTED: media encoding "${'é'.repeat(120)}"`;
  const app = uws.App();
  app.ws('/*', { open: (ws) => ws.end(1003, closeReason(reason)) });
  const listen = await new Promise<us_listen_socket>((resolve) => app.listen('127.0.0.1', 0, (socket) => resolve(socket)));
  try {
    const port = uws.us_socket_local_port(listen as never);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/x`);
      ws.on('error', () => {
        // A bad close frame shows as an error, then close 1006.
      });
      ws.on('close', (code, text) => resolve({ code, reason: text.toString('utf8') }));
    });
    assert.equal(closed.code, 1003);
    assert.ok(reason.startsWith(closed.reason) && closed.reason.length > 40, closed.reason);
  } finally {
    uws.us_listen_socket_close(listen);
    (app as typeof app & { close?: () => void }).close?.();
  }
});
