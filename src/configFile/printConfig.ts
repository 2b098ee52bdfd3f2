/**
 * `--print-config`: the effective settings as one JSON object. `config` is
 * itself a valid config file (secrets appear only as the paths of their
 * files), `sources` says where each key's value came from, and `secrets`
 * says which secret was loaded from where, its value always "[redacted]".
 */
import { setPath, type KeySpec } from './layers.js';
import type { ResolvedSecret } from './secretFiles.js';

export const REDACTED = '[redacted]';

export interface PrintableSecret extends ResolvedSecret {
  /** The config key naming the file. */
  key: string;
  /** The value read, or null when the secret is not configured. Never printed. */
  value: string | null;
}

export function printableConfig(
  command: string,
  settings: Record<string, unknown>,
  specs: readonly KeySpec[],
  sourceOf: (key: string) => string,
  secrets: Record<string, PrintableSecret>,
): string {
  const sources: Record<string, string> = {};
  for (const spec of specs) if (spec.type !== 'object') sources[spec.key] = spec.secret ? secrets[spec.secret.name]?.origin ?? sourceOf(spec.key) : sourceOf(spec.key);
  const config = structuredClone(settings);
  // A secret resolved from a systemd credential shows the path it was read from.
  for (const secret of Object.values(secrets)) if (secret.path) setPath(config, secret.key, secret.path);
  const shown: Record<string, unknown> = {};
  for (const [name, secret] of Object.entries(secrets)) {
    shown[name] = { file: secret.path, origin: secret.origin, value: secret.value === null ? null : REDACTED };
  }
  let text = JSON.stringify({ command, config, sources, secrets: shown }, null, 2);
  // Belt and braces: should a secret's text appear anywhere (a path containing it), it is cut out.
  for (const secret of Object.values(secrets)) {
    if (secret.value && secret.value.length >= 8) text = text.split(secret.value).join(REDACTED);
  }
  return `${text}\n`;
}
