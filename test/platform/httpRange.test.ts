/** One byte range of a Range header (RFC 9110 section 14): what is served, refused or ignored. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentRange, forwardableRange, parseByteRange, parseContentRange } from '../../src/platform/httpRange.js';

describe('parseByteRange', () => {
  it('serves a single range, clamped to the body', () => {
    assert.deepEqual(parseByteRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseByteRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseByteRange('bytes=-10', 1000), { start: 990, end: 999 });
    assert.deepEqual(parseByteRange('bytes=-5000', 1000), { start: 0, end: 999 });
    assert.deepEqual(parseByteRange('bytes=500-5000', 1000), { start: 500, end: 999 });
    assert.deepEqual(parseByteRange(' bytes=999-999 ', 1000), { start: 999, end: 999 });
  });

  it('answers 416 for a range that starts past the end, or an empty suffix', () => {
    assert.equal(parseByteRange('bytes=1000-', 1000), 'unsatisfiable');
    assert.equal(parseByteRange('bytes=2000-3000', 1000), 'unsatisfiable');
    assert.equal(parseByteRange('bytes=-0', 1000), 'unsatisfiable');
    assert.equal(parseByteRange('bytes=0-', 0), 'unsatisfiable');
  });

  it('ignores what is not one byte range: the whole body is sent', () => {
    for (const header of [undefined, '', 'bytes=', 'bytes=-', 'bytes=5-1', 'bytes=0-1,5-9', 'items=0-9', 'bytes=a-b', 'bytes=0x10-20', `bytes=${'9'.repeat(16)}-`, 'bytes=0-99\r\nx: y']) {
      assert.equal(parseByteRange(header, 1000), null, String(header));
    }
  });
});

describe('forwardableRange', () => {
  it('rebuilds a single range from its digits, and nothing else', () => {
    assert.equal(forwardableRange('bytes=0-99'), 'bytes=0-99');
    assert.equal(forwardableRange('bytes=007-'), 'bytes=7-');
    assert.equal(forwardableRange('bytes=-10'), 'bytes=-10');
    for (const header of [undefined, 'bytes=-', 'bytes=9-1', 'bytes=0-1, 4-5', 'bytes=0-1;x', 'none']) {
      assert.equal(forwardableRange(header), null, String(header));
    }
  });
});

describe('Content-Range', () => {
  it('writes a 206 range and reads only a well-formed one back', () => {
    assert.equal(contentRange({ start: 10, end: 19 }, 100), 'bytes 10-19/100');
    assert.deepEqual(parseContentRange('bytes 10-19/100'), { range: { start: 10, end: 19 }, size: 100 });
    for (const header of [undefined, 'bytes 19-10/100', 'bytes 0-100/100', 'bytes */100', 'bytes 0-1/*', 'items 0-1/2']) {
      assert.equal(parseContentRange(header), null, String(header));
    }
  });
});
