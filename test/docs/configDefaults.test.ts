/**
 * The default docs/configuration.md gives a key (its KeySpec.default, which
 * test/configFile/docs.test.ts matches to the row) is the default the schema
 * applies: each schema parses an empty file and every plain default (a
 * number, a word, a list) is compared. Descriptive defaults ("(required)",
 * "one per core", "systemd credential ...") are left to the page's words.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GATEWAY_KEYS, gatewaySettingsSchema } from '../../src/configFile/gatewaySettings.js';
import { PLATFORM_KEYS, platformSettingsSchema } from '../../src/configFile/platformSettings.js';
import type { KeySpec } from '../../src/configFile/layers.js';

/** The value at a dotted key. */
const at = (settings: Record<string, unknown>, key: string): unknown => key.split('.').reduce<unknown>((v, part) => (v as Record<string, unknown> | undefined)?.[part], settings);

/** How the page writes a value: numbers and words as they are, lists joined by ", ". */
const written = (value: unknown): string => (Array.isArray(value) ? value.join(', ') : String(value));

const PLAIN = /^-?[\w.:/-]+(, [\w.-]+)*$/;

for (const [name, specs, schema] of [
  ['gateway', GATEWAY_KEYS, gatewaySettingsSchema],
  ['platform', PLATFORM_KEYS, platformSettingsSchema],
] as const) {
  test(`${name}: every plain documented default is the schema's`, () => {
    const defaults = schema.parse({}) as Record<string, unknown>;
    const plain = specs.filter((s: KeySpec) => PLAIN.test(s.default) && s.default !== 'none' && s.default !== 'redisUrl');
    assert.ok(plain.length >= 5, `plain defaults found (${plain.length})`);
    // undefined: the default is applied after the schema (agent.openclawUrl, when the agent needs one).
    const wrong = plain.filter((s) => at(defaults, s.key) !== undefined && written(at(defaults, s.key)) !== s.default).map((s) => `${s.key}: documented ${s.default}, schema ${written(at(defaults, s.key))}`);
    assert.deepEqual(wrong, []);
  });
}
