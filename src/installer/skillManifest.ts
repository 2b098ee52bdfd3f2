/**
 * The SKILL.md frontmatter of a skill bundle (OpenClaw skill format: name,
 * description, version, and metadata.openclaw.requires.bins). Read with a
 * deliberately small YAML subset: nested maps by two-space indentation,
 * plain or double-quoted scalars without escapes, and block lists of
 * scalars. Anchors, tags, flow maps and multi-line scalars are refused, so
 * there is no parser behaviour to exploit.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import { PATTERNS, excerpt } from './fields.js';

export interface SkillManifest {
  name: string;
  description: string;
  version: string;
  requiredBins: string[];
}

type Node = string | string[] | { [key: string]: Node };

const MAX_FRONTMATTER_LINES = 64;
const KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const PLAIN_SCALAR = /^[^"'&*!|>{}[\]#%@`,][^#]*$/;

function manifestError(what: string): TtmaError {
  return new TtmaError(ErrorCodes.INSTALL_FIELD, `refused skill bundle SKILL.md: ${what}; nothing was written`, 2);
}

function scalar(raw: string, line: number): string {
  const text = raw.trim();
  const quoted = /^"([^"\\]*)"$/.exec(text);
  if (quoted) return quoted[1]!;
  if (!PLAIN_SCALAR.test(text)) throw manifestError(`line ${line}: unsupported YAML value ${excerpt(text)}`);
  return text;
}

/** Parses the frontmatter block (between the first two "---" lines). */
export function parseFrontmatter(markdown: string): Record<string, Node> {
  const lines = markdown.split('\n');
  if (lines[0]?.trimEnd() !== '---') throw manifestError('it must start with a "---" frontmatter block');
  const end = lines.indexOf('---', 1);
  if (end < 0 || end > MAX_FRONTMATTER_LINES) throw manifestError(`the frontmatter must close with "---" within ${MAX_FRONTMATTER_LINES} lines`);
  const root: Record<string, Node> = {};
  // Stack of open maps by indentation; a list is attached to its key.
  const stack: { indent: number; map: Record<string, Node> }[] = [{ indent: -1, map: root }];
  let openList: { indent: number; list: string[] } | null = null;
  for (let i = 1; i < end; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    if (/\t/.test(line)) throw manifestError(`line ${i + 1}: tabs are not allowed`);
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (body.startsWith('- ')) {
      if (!openList || indent < openList.indent) throw manifestError(`line ${i + 1}: a list item outside a list`);
      openList.list.push(scalar(body.slice(2), i + 1));
      continue;
    }
    openList = null;
    const colon = body.indexOf(':');
    const key = colon > 0 ? body.slice(0, colon) : '';
    if (!KEY.test(key)) throw manifestError(`line ${i + 1}: expected "key: value", got ${excerpt(body)}`);
    while (stack.length > 1 && indent <= stack[stack.length - 1]!.indent) stack.pop();
    const parent = stack[stack.length - 1]!.map;
    if (Object.hasOwn(parent, key)) throw manifestError(`line ${i + 1}: key ${key} appears twice`);
    const rest = body.slice(colon + 1).trim();
    if (rest === '') {
      // A nested map or a block list follows; which one the next line decides.
      const child: Record<string, Node> = {};
      const list: string[] = [];
      const next = lines.slice(i + 1, end).find((l) => l.trim() !== '');
      if (next?.trim().startsWith('- ')) {
        parent[key] = list;
        openList = { indent, list };
      } else {
        parent[key] = child;
        stack.push({ indent, map: child });
      }
    } else {
      parent[key] = scalar(rest, i + 1);
    }
  }
  return root;
}

function field(map: Record<string, Node>, key: string): Node | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

export function readSkillManifest(markdown: string): SkillManifest {
  const front = parseFrontmatter(markdown);
  const name = field(front, 'name');
  const description = field(front, 'description');
  const version = field(front, 'version');
  if (typeof name !== 'string' || !PATTERNS.skillName.test(name)) throw manifestError(`name must be 1 to 64 of a-z, 0-9 and "-" (got ${excerpt(name)})`);
  if (typeof description !== 'string' || description.length < 1 || description.length > 1024) throw manifestError('description must be 1 to 1024 characters');
  if (typeof version !== 'string' || !PATTERNS.semver.test(version)) throw manifestError(`version must be a semantic version (got ${excerpt(version)})`);
  const metadata = field(front, 'metadata');
  const openclaw = metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? field(metadata, 'openclaw') : undefined;
  const requires = openclaw && typeof openclaw === 'object' && !Array.isArray(openclaw) ? field(openclaw, 'requires') : undefined;
  const bins = requires && typeof requires === 'object' && !Array.isArray(requires) ? field(requires, 'bins') : undefined;
  if (!Array.isArray(bins) || bins.length === 0) throw manifestError('metadata.openclaw.requires.bins must list the binaries the skill needs');
  for (const bin of bins) if (!PATTERNS.binaryName.test(bin)) throw manifestError(`required binary ${excerpt(bin)} is not a plain program name`);
  return { name, description, version, requiredBins: bins };
}
