/**
 * What systemd itself says about a loaded unit (`systemctl show`): the
 * values it runs with after every file and drop-in, and the files it read.
 * Optional: without systemctl, without a running systemd, or for a unit that
 * is not installed, the answer is null and the callers read files instead.
 * Fixed arguments, no shell; the unit name is one of ours.
 */
import { execFileSync } from 'node:child_process';

export type ShowProperties = Map<string, string>;
export type Systemctl = (unit: string, properties: readonly string[]) => ShowProperties | null;

/** `Key=value` lines; a value keeps any further "=". */
export function parseShow(text: string): ShowProperties {
  const out: ShowProperties = new Map();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** The real systemctl, or null when it is missing, fails, or the unit is not loaded from a file. */
export const systemctlShow: Systemctl = (unit, properties) => {
  let text: string;
  try {
    text = execFileSync('systemctl', ['show', '--no-pager', `--property=${['LoadState', ...properties].join(',')}`, '--', unit], {
      encoding: 'utf8',
      timeout: 3_000,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C' },
    });
  } catch {
    return null;
  }
  const props = parseShow(text);
  return props.get('LoadState') === 'loaded' ? props : null;
};
