/**
 * A systemd unit as systemd itself reads it, for `ttma doctor --install-dir`:
 * the unit file, then its drop-ins (`<unit>.d/*.conf`) in name order, each
 * assignment in turn. A later assignment of a setting replaces an earlier
 * one, and for list settings (SystemCallFilter=, CapabilityBoundingSet=,
 * LoadCredential=, …) later lines add to the list while an empty assignment
 * clears it. Checking that a line exists somewhere is not enough: a drop-in
 * or a line further down can undo it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** One `Key=value` line of the [Service] section, and where it was read. */
export interface Assignment {
  key: string;
  value: string;
  /** `file:line`, for messages. */
  at: string;
}

/** Settings that take a list: more lines add, an empty line clears (systemd.exec(5)). */
const LIST_KEYS = new Set([
  'SystemCallFilter', 'CapabilityBoundingSet', 'AmbientCapabilities', 'RestrictAddressFamilies',
  'ReadWritePaths', 'ReadWriteDirectories', 'BindPaths', 'BindReadOnlyPaths', 'ReadOnlyPaths', 'InaccessiblePaths',
  'LoadCredential', 'LoadCredentialEncrypted', 'SetCredential', 'SetCredentialEncrypted', 'ImportCredential',
  'Environment', 'EnvironmentFile', 'PassEnvironment', 'SupplementaryGroups', 'DeviceAllow',
  'ExecStart', 'ExecStartPre', 'ExecStartPost', 'ExecCondition', 'ExecReload', 'ExecStop', 'ExecStopPost',
]);

export const isListKey = (key: string): boolean => LIST_KEYS.has(key);

/** The [Service] assignments of one file, in order. Comments, other sections and continuation lines as systemd reads them. */
export function parseUnitText(text: string, file: string): Assignment[] {
  const out: Assignment[] = [];
  const lines = text.split(/\r?\n/);
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // A trailing backslash continues the line (systemd joins with a space).
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i]!.trim();
      if (next.startsWith('#') || next.startsWith(';')) continue;
      line = `${line.slice(0, -1)} ${next}`;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      section = line.slice(1, -1).trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || section !== 'Service') continue;
    out.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), at: `${file}:${first}` });
  }
  return out;
}

/** What a setting ends up as. `values` is the last assignment for a plain setting, the list since the last reset for a list. */
export interface Effective {
  values: string[];
  /** A list setting was cleared by an empty assignment at least once. */
  reset: boolean;
  /** A non-empty value was assigned at some point, even if cleared later. */
  ever: boolean;
  /** Where the deciding (last) assignment was read. */
  at: string;
}

export type UnitSettings = Map<string, Effective>;

/** Folds assignments in order, as systemd does. */
export function effectiveSettings(assignments: readonly Assignment[]): UnitSettings {
  const out: UnitSettings = new Map();
  for (const a of assignments) {
    const prev = out.get(a.key) ?? { values: [], reset: false, ever: false, at: a.at };
    const ever = prev.ever || a.value !== '';
    if (!isListKey(a.key)) out.set(a.key, { values: [a.value], reset: false, ever, at: a.at });
    else if (a.value === '') out.set(a.key, { values: [], reset: true, ever, at: a.at });
    else out.set(a.key, { values: [...prev.values, a.value], reset: prev.reset, ever, at: a.at });
  }
  return out;
}

/**
 * The drop-in directories systemd reads for `unit` (`ttma-gateway.service`),
 * highest priority first: in each root, the unit's own `<unit>.d` then its
 * dash prefixes, longest first (`ttma-.service.d`); after every root, the
 * type-wide `service.d` in each. A drop-in of a name already found earlier
 * is masked (systemd's unit_file_find_dropin_paths and conf_files_list: a
 * file in /etc masks one of the same name in /run, which masks /usr/lib;
 * https://www.freedesktop.org/software/systemd/man/latest/systemd.unit.html,
 * "Description" on drop-ins).
 */
export function dropInDirs(unit: string, roots: readonly string[]): string[] {
  const dot = unit.lastIndexOf('.');
  const [stem, type] = [unit.slice(0, dot), unit.slice(dot + 1)];
  const own = [`${unit}.d`];
  const parts = stem.split('-');
  for (let n = parts.length - 1; n >= 1; n--) own.push(`${parts.slice(0, n).join('-')}-.${type}.d`);
  return [...roots.flatMap((root) => own.map((d) => join(root, d))), ...roots.map((root) => join(root, `${type}.d`))];
}

const listConf = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((n) => n.endsWith('.conf'));
  } catch {
    return [];
  }
};

export interface ReadUnit {
  assignments: Assignment[];
  /** Every file read, unit first. */
  files: string[];
}

/**
 * The unit file at `path` and its drop-ins: from `<path>.d/` beside it and
 * from `systemDirs` (systemd's unit search path, highest priority first:
 * unitSearchPath.ts). Of drop-ins sharing a file name only
 * the one found first counts; the rest apply in the order of their file
 * names, whichever directory they are in, as systemd does.
 */
export function readUnitWithDropIns(path: string, systemDirs: readonly string[]): ReadUnit | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const unit = basename(path);
  const byName = new Map<string, string>();
  // Highest priority first: a name already taken is not replaced.
  for (const dir of dropInDirs(unit, [...new Set([dirname(path), ...systemDirs])])) {
    for (const name of listConf(dir)) if (!byName.has(name)) byName.set(name, join(dir, name));
  }
  const dropIns = [...byName.keys()].sort().map((name) => byName.get(name)!);
  const assignments = parseUnitText(text, path);
  for (const file of dropIns) {
    try {
      assignments.push(...parseUnitText(readFileSync(file, 'utf8'), file));
    } catch {
      // An unreadable drop-in is reported by name below.
      assignments.push({ key: '#unreadable', value: file, at: file });
    }
  }
  return { assignments, files: [path, ...dropIns] };
}

/** Exactly these files, in this order (what `systemctl show -p FragmentPath,DropInPaths` names). */
export function readUnitFiles(files: readonly string[]): ReadUnit | null {
  const assignments: Assignment[] = [];
  for (const [i, file] of files.entries()) {
    try {
      assignments.push(...parseUnitText(readFileSync(file, 'utf8'), file));
    } catch {
      if (i === 0) return null;
      assignments.push({ key: '#unreadable', value: file, at: file });
    }
  }
  return { assignments, files: [...files] };
}
