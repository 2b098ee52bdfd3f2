/**
 * What a user reads (README.md, docs/*.md, skill/SKILL.md) and the source it
 * describes, as text, for the docs-versus-code tests in test/docs/. Reads
 * files only, lazily, and declares no test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (this file runs from dist/test/helpers/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface TextFile {
  /** Relative to the repository, e.g. docs/control.md. */
  path: string;
  text: string;
}

function read(path: string): TextFile {
  return { path, text: readFileSync(join(ROOT, path), 'utf8') };
}

let docs: TextFile[] | null = null;

/**
 * The pages a user follows. docs/decisions.md is left out: it is the record of what was
 * decided when, and names flags, codes and variables that have since changed on purpose.
 */
export function userDocs(): TextFile[] {
  docs ??= [
    read('README.md'),
    ...readdirSync(join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md') && name !== 'decisions.md')
      .sort()
      .map((name) => read(`docs/${name}`)),
    read('skill/SKILL.md'),
  ];
  return docs;
}

export function userDoc(path: string): TextFile {
  const doc = userDocs().find((d) => d.path === path);
  if (!doc) throw new Error(`${path} is not one of the user docs`);
  return doc;
}

const sources = new Map<string, TextFile[]>();

/** Every file under `dir` (relative to the repository) whose name ends in one of `endings`, sorted. */
export function sourceFiles(dir: string, endings: readonly string[] = ['.ts']): TextFile[] {
  const key = `${dir} ${endings.join(' ')}`;
  let files = sources.get(key);
  if (!files) {
    const wanted = (name: string) => endings.some((end) => name.endsWith(end));
    const walk = (abs: string): string[] =>
      readdirSync(abs, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(abs, e.name)) : wanted(e.name) ? [join(abs, e.name)] : []));
    files = walk(join(ROOT, dir))
      .sort()
      .map((abs) => read(relative(ROOT, abs)));
    sources.set(key, files);
  }
  return files;
}

/** Each `code` span of a Markdown text, and each line of its fenced blocks, in order. */
export function codeSnippets(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  let pending = '';
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) {
      // A shell line continued with a backslash is one command.
      pending += line.replace(/\\$/, ' ');
      if (!line.endsWith('\\')) {
        out.push(pending);
        pending = '';
      }
      continue;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) out.push(m[1]!);
  }
  return out;
}

/** Where in the user docs `needle` occurs, as "path:line" (for failure messages). */
export function whereIn(files: TextFile[], needle: RegExp): string[] {
  return files.filter((f) => needle.test(f.text)).flatMap((f) => f.text.split('\n').flatMap((line, i) => (needle.test(line) ? [`${f.path}:${i + 1}`] : [])));
}
