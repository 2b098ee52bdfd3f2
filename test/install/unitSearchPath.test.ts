/** systemd's system unit search path and $SYSTEMD_UNIT_PATH, as systemd.unit(5) says (src/control/unitSearchPath.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SYSTEM_UNIT_DIRS, systemUnitSearchPath } from '../../src/control/unitSearchPath.js';

const path = (value: string | undefined, root?: string) =>
  systemUnitSearchPath({ env: value === undefined ? {} : { SYSTEMD_UNIT_PATH: value }, cwd: '/work', ...(root ? { root } : {}) });

test('unset: the usual search path, under the root', () => {
  assert.deepEqual(path(undefined), SYSTEM_UNIT_DIRS);
  assert.deepEqual(path(undefined, '/img'), SYSTEM_UNIT_DIRS.map((d) => `/img${d}`));
});

test('set: it replaces the search path; a trailing colon appends the usual one', () => {
  assert.deepEqual(path('/a:/b'), ['/a', '/b']);
  assert.deepEqual(path('/a:/b:'), ['/a', '/b', ...SYSTEM_UNIT_DIRS]);
  assert.deepEqual(path(':'), SYSTEM_UNIT_DIRS, 'only the empty component: the usual path');
  assert.deepEqual(path('/a:', '/img'), ['/img/a', ...SYSTEM_UNIT_DIRS.map((d) => `/img${d}`)]);
});

test('as systemd: empty components elsewhere are skipped, relative entries are under the working directory, duplicates count once, "" is empty', () => {
  assert.deepEqual(path('/a::/b'), ['/a', '/b']);
  assert.deepEqual(path('units:/a'), ['/work/units', '/a']);
  assert.deepEqual(path('/etc/systemd/system:'), ['/etc/systemd/system', ...SYSTEM_UNIT_DIRS.filter((d) => d !== '/etc/systemd/system')]);
  assert.deepEqual(path(''), []);
});
