import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { redisUnavailable, startRedisServer } from './redisServer.js';

const skip = redisUnavailable();

test('the test redis-server starts on loopback, answers, and stops', { skip }, async () => {
  const server = await startRedisServer();
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    assert.equal(await client.set('k', 'v'), 'OK');
    assert.equal(await client.getdel('k'), 'v');
    assert.equal(await client.get('k'), null);
  } finally {
    client.disconnect();
    await server.stop();
  }
});
