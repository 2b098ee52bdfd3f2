/**
 * The system manager's unit search path as systemd computes it, for
 * `ttma doctor --install-dir` (and its `--root`): the default directories,
 * or `$SYSTEMD_UNIT_PATH`, each looked up under a root directory as
 * `systemctl --root` does.
 */
import { join, resolve } from 'node:path';

/**
 * The default search path, highest priority first
 * (https://www.freedesktop.org/software/systemd/man/latest/systemd.unit.html,
 * "System Unit Search Path"): units and drop-ins are read from all of them,
 * so a package's drop-in under /usr/lib or a runtime one under /run counts,
 * and one of the same name under /etc masks it. /lib/systemd/system is the
 * package directory of a system whose /usr is not merged (systemd lists it
 * before /usr/lib there; merged, they are one directory).
 */
export const SYSTEM_UNIT_DIRS = [
  '/etc/systemd/system.control', '/run/systemd/system.control', '/run/systemd/transient', '/run/systemd/generator.early',
  '/etc/systemd/system', '/etc/systemd/system.attached', '/run/systemd/system', '/run/systemd/system.attached', '/run/systemd/generator',
  '/usr/local/lib/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system', '/run/systemd/generator.late',
];

export interface SearchPathOptions {
  /** Every directory is looked up under it (default `/`). */
  root?: string;
  /** Where `$SYSTEMD_UNIT_PATH` is read (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** What a relative `$SYSTEMD_UNIT_PATH` entry is relative to (default: the working directory). */
  cwd?: string;
}

/**
 * systemd.unit(5), "Unit File Load Path"
 * (https://www.freedesktop.org/software/systemd/man/latest/systemd.unit.html):
 * `$SYSTEMD_UNIT_PATH`, a colon-separated list, replaces the search path; if
 * it ends with an empty component (a trailing ":"), the usual search path is
 * appended to it. As in systemd's lookup_paths_init (src/shared/path-lookup.c),
 * only the trailing empty component means that: empty components elsewhere are
 * skipped, relative entries are made absolute against the working directory,
 * every entry goes under the root, and duplicates count once. A variable set to
 * "" is an empty search path, as it is to systemd.
 */
export function systemUnitSearchPath(options: SearchPathOptions = {}): string[] {
  const root = options.root ?? '/';
  const value = (options.env ?? process.env)['SYSTEMD_UNIT_PATH'];
  let dirs = SYSTEM_UNIT_DIRS;
  if (value !== undefined) {
    const append = value.endsWith(':');
    const own = (append ? value.slice(0, -1) : value).split(':').filter((d) => d !== '').map((d) => resolve(options.cwd ?? process.cwd(), d));
    dirs = append ? [...own, ...SYSTEM_UNIT_DIRS] : own;
  }
  return [...new Set(dirs.map((d) => join(root, d)))];
}
