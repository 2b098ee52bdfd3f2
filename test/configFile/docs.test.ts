/**
 * docs/configuration.md stays the reference: every key of both schemas has
 * its row with its env variable and flag, and every row names a real key.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GATEWAY_KEYS, gatewaySettingsSchema } from '../../src/configFile/gatewaySettings.js';
import { PLATFORM_KEYS, platformSettingsSchema } from '../../src/configFile/platformSettings.js';
import type { KeySpec } from '../../src/configFile/layers.js';

const DOC = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

/** Every dotted key the schema accepts (objects and their fields). */
function schemaKeys(shape: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(shape).flatMap(([name, field]) => {
    let inner = field as { def?: { innerType?: unknown; shape?: Record<string, unknown> }; shape?: Record<string, unknown> };
    // Unwrap .default()/.optional()/.prefault() to reach an object's own shape.
    while (inner.def?.innerType) inner = inner.def.innerType as typeof inner;
    const key = `${prefix}${name}`;
    return inner.shape ? [key, ...schemaKeys(inner.shape, `${key}.`)] : [key];
  });
}

for (const [name, specs, schema] of [
  ['gateway', GATEWAY_KEYS, gatewaySettingsSchema],
  ['platform', PLATFORM_KEYS, platformSettingsSchema],
] as const) {
  test(`${name}: the key table covers exactly the schema's keys`, () => {
    assert.deepEqual(specs.map((s: KeySpec) => s.key).sort(), schemaKeys(schema.shape).sort());
  });

  test(`${name}: docs/configuration.md has a row per key with its default, env variable and flag`, () => {
    for (const spec of specs) {
      const row = DOC.split('\n').find((line) => line.startsWith(`| \`${spec.key}\` |`) && line.includes(spec.meaning.replace(/\|/g, '\\|')));
      assert.ok(row, `no row for ${spec.key}`);
      if (spec.env) assert.ok(row.includes(`\`${spec.env}\``), `${spec.key}: env ${spec.env}`);
      if (spec.flag) assert.ok(row.includes(`\`${spec.flag}\``), `${spec.key}: flag ${spec.flag}`);
      assert.ok(row.includes(`| ${spec.default.replace(/\|/g, '\\|')} |`), `${spec.key}: default ${spec.default}`);
    }
  });
}
