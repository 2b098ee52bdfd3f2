/** Where recordings may be downloaded and played from (recordingOrigins). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRecordingOrigins, recordingOriginsFor } from '../../src/platform/RecordingFetcher.js';

describe('recording origins', () => {
  it('defaults to the provider origin, plus the S3 origin Telnyx recording URLs are on', () => {
    assert.deepEqual(recordingOriginsFor('https://api.telnyx.com/v2'), ['https://api.telnyx.com', 'https://s3.amazonaws.com']);
    assert.deepEqual(recordingOriginsFor('http://127.0.0.1:9000'), ['http://127.0.0.1:9000']);
    assert.deepEqual(checkRecordingOrigins(['https://storage.example:8443/', 'http://127.0.0.1:9000']), ['https://storage.example:8443', 'http://127.0.0.1:9000']);
    for (const bad of [[], ['http://storage.example'], ['https://user:pw@storage.example'], ['https://storage.example/bucket'], ['ftp://storage.example'], ['not a url'], ['https://storage.example?x=1']]) {
      assert.throws(() => checkRecordingOrigins(bad), /TTMA_ERR_CONFIG|recording/, JSON.stringify(bad));
    }
  });
});
