/**
 * Effective settings from four layers, highest first: flags, environment,
 * config file, defaults (the schema's). Each key remembers where its value
 * came from, so a bad value is reported with its origin, and so
 * `--print-config` can say it. Validation reports every bad key at once.
 */
import type { z } from 'zod';
import { configError } from './readConfigFile.js';

/** One documented key: what the reference (docs/configuration.md) and the env/flag mapping are made from. */
export interface KeySpec {
  /** Dotted path in the config file, e.g. `agent.url`. */
  key: string;
  /** The default as a person reads it. */
  default: string;
  meaning: string;
  /** Environment variable that overrides the file. */
  env?: string;
  /** Command-line flag that overrides everything. */
  flag?: string;
  /** How an environment value is read: int, comma-separated list, or as is. */
  type: 'string' | 'int' | 'number' | 'list' | 'bool' | 'object';
  /** The key names a file holding a secret (never the secret itself). */
  secret?: SecretSpec;
}

export interface SecretSpec {
  /** What the file holds, for messages and --print-config (`agentSecret`). */
  name: string;
  /** The systemd credential looked up in $CREDENTIALS_DIRECTORY when the key is unset. */
  credential: string;
  /** Inline spellings refused in a config file (`agentSecret`, `agent.apiKey`). */
  inline: string[];
  /** Environment variables that would carry the value itself: ignored, with a warning. */
  inlineEnv: string[];
}

export type Values = Record<string, unknown>;

export interface Layers {
  /** Parsed config file (nested), or null. */
  file: Values | null;
  filePath: string | null;
  /** Dotted key -> value. */
  env: Map<string, { value: unknown; name: string }>;
  flags: Map<string, { value: unknown; name: string }>;
}

/** Environment overrides for the keys that have one; values converted per the key's type. */
export function envLayer(specs: readonly KeySpec[], env: NodeJS.ProcessEnv): Layers['env'] {
  const out: Layers['env'] = new Map();
  for (const spec of specs) {
    if (!spec.env) continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    out.set(spec.key, { value: convert(spec.type, raw), name: spec.env });
  }
  return out;
}

/** A string from the environment as the key's type; a value that does not convert stays a string, so validation names it. */
function convert(type: KeySpec['type'], raw: string): unknown {
  switch (type) {
    case 'int':
      return /^-?\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'number':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'bool':
      return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
    default:
      return raw;
  }
}

/** The merged input for the schema: the file, then env, then flags written over it by dotted key. */
export function mergeLayers(layers: Layers): Values {
  const merged: Values = structuredClone(layers.file ?? {});
  for (const layer of [layers.env, layers.flags]) {
    for (const [key, { value }] of layer) setPath(merged, key, value);
  }
  return merged;
}

/** Where a key's effective value came from. */
export function sourceOf(layers: Layers, key: string): string {
  const flag = layers.flags.get(key);
  if (flag) return `flag ${flag.name}`;
  const env = layers.env.get(key);
  if (env) return `env ${env.name}`;
  if (layers.file && getPath(layers.file, key) !== undefined) return `file ${layers.filePath}`;
  return 'default';
}

export function setPath(target: Values, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Values;
  }
  node[parts[parts.length - 1]!] = value;
}

export function getPath(source: Values, key: string): unknown {
  let node: unknown = source;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Values)[part];
  }
  return node;
}

/** Key names that look like a secret value rather than a file naming one. */
const SECRET_LIKE = /(secret|token|password|passphrase|apikey|api_key|privatekey|private_key|key)$/i;

/**
 * A secret written into the config file is refused before anything else is
 * looked at: the message names the key and the *File key to use, never the value.
 */
export function refuseInlineSecrets(file: Values, specs: readonly KeySpec[], filePath: string): void {
  const problems: string[] = [];
  const known = new Map<string, KeySpec>();
  for (const spec of specs) for (const inline of spec.secret?.inline ?? []) known.set(inline, spec);
  const walk = (node: Values, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const spec = known.get(key);
      if (spec) {
        problems.push(`${key}: a secret may not be written in the config file; put it in a file readable only by this service (chmod 600) and set ${spec.key} to its path, or give it as the systemd credential "${spec.secret!.credential}"`);
      } else if (SECRET_LIKE.test(name) && !/file$/i.test(name) && typeof value === 'string') {
        problems.push(`${key}: looks like a secret written in the config file; secrets are only read from files (keys ending in "File") or systemd credentials`);
      } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        walk(value as Values, key);
      }
    }
  };
  walk(file, '');
  if (problems.length > 0) throw configProblems(filePath, problems);
}

/** Names of secret-carrying environment variables that are set (their values are never read). */
export function inlineSecretEnv(specs: readonly KeySpec[], env: NodeJS.ProcessEnv): string[] {
  return specs.flatMap((s) => s.secret?.inlineEnv ?? []).filter((name) => env[name] !== undefined && env[name] !== '');
}

/** Validate the merged input; every problem becomes one line naming the key, what is wrong, what is expected and where it came from. */
export function parseSettings<S extends z.ZodType>(schema: S, layers: Layers, specs: readonly KeySpec[]): z.output<S> {
  const result = schema.safeParse(mergeLayers(layers), { reportInput: true });
  if (result.success) return result.data;
  const known = new Map(specs.map((s) => [s.key, s]));
  const lines: string[] = [];
  for (const issue of result.error.issues) {
    const at = pathText(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) {
        const key = at ? `${at}.${name}` : name;
        const siblings = specs.filter((s) => parentOf(s.key) === at).map((s) => s.key.slice(at ? at.length + 1 : 0));
        lines.push(`${key}: unknown key (${sourceOf(layers, key)}); expected one of: ${[...new Set(siblings)].join(', ')}`);
      }
      continue;
    }
    const spec = known.get(at);
    const origin = sourceOf(layers, topKeyOf(at, known));
    lines.push(`${at || '(top level)'}: ${describeIssue(issue)}; from ${origin}${spec ? `. Meaning: ${spec.meaning}` : ''}`);
  }
  throw configProblems(layers.filePath, lines);
}

export function configProblems(filePath: string | null, lines: string[]) {
  const where = filePath ? ` (config file ${filePath})` : '';
  return configError(`${lines.length} configuration problem${lines.length === 1 ? '' : 's'}${where}:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out;
}

function parentOf(key: string): string {
  const i = key.lastIndexOf('.');
  return i < 0 ? '' : key.slice(0, i);
}

/** `numbers[2]` reports the source of `numbers`. */
function topKeyOf(at: string, known: Map<string, KeySpec>): string {
  let key = at.replace(/\[\d+\]$/, '');
  while (key && !known.has(key) && key.includes('.')) key = parentOf(key);
  return key;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const got = 'input' in issue ? ` got ${shown(issue.input)}` : '';
  switch (issue.code) {
    case 'invalid_type':
      const expected = issue.expected === 'int' ? 'an integer' : issue.expected;
      return issue.input === undefined ? `is required; expected ${expected}` : `wrong type: expected ${expected},${got}`;
    case 'too_small':
      return `too small: expected ${issue.origin === 'array' ? 'at least ' : issue.inclusive ? '>= ' : '> '}${String(issue.minimum)}${issue.origin === 'array' ? ' entries' : ''},${got}`;
    case 'too_big':
      return `too big: expected ${issue.origin === 'array' ? 'at most ' : issue.inclusive ? '<= ' : '< '}${String(issue.maximum)}${issue.origin === 'array' ? ' entries' : ''},${got}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')},${got}`;
    case 'invalid_format':
      return `expected ${issue.format},${got}`;
    default:
      return `${issue.message},${got}`;
  }
}

/** A value for a message: short, JSON-quoted, and never an object's contents. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return Array.isArray(value) ? 'a list' : 'an object';
}
