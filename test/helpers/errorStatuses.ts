/**
 * Which HTTP statuses the source pairs with each error code, read from the
 * text (no import runs anything): `new TtmaError(ErrorCodes.X, message, 403)`
 * calls, and lines that write both a status and one code (`{ status: 401,
 * code: ErrorCodes.X }`, `['413 Payload Too Large', ErrorCodes.X]`,
 * `writeStatus('401 Unauthorized')...ErrorCodes.X`). A status computed at
 * run time is not seen. Declares no test.
 */
import type { TextFile } from './docsCorpus.js';

/** Index just past the string, template or bracketed run that starts at `i`. */
function skip(text: string, i: number): number {
  const open = text[i]!;
  if (open === "'" || open === '"') {
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text[j] === open) return j + 1;
    }
    return text.length;
  }
  if (open === '`') {
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text[j] === '`') return j + 1;
      else if (text[j] === '$' && text[j + 1] === '{') j = skip(text, j + 1) - 1;
    }
    return text.length;
  }
  const close = ({ '(': ')', '[': ']', '{': '}' } as Record<string, string>)[open]!;
  for (let j = i + 1; j < text.length; ) {
    if (text[j] === close) return j + 1;
    j = '\'"`([{'.includes(text[j]!) ? skip(text, j) : j + 1;
  }
  return text.length;
}

/** The top-level arguments of the call whose "(" is at `open`, as source text. */
export function callArguments(text: string, open: number): string[] {
  const args: string[] = [];
  let start = open + 1;
  for (let j = open + 1; j < text.length; ) {
    const c = text[j]!;
    if (c === ')' || c === ',') {
      args.push(text.slice(start, j).trim());
      if (c === ')') break;
      start = j + 1;
      j++;
    } else j = '\'"`([{'.includes(c) ? skip(text, j) : j + 1;
  }
  return args.filter((a) => a.length > 0);
}

export interface StatusUse {
  code: string;
  status: number;
  where: string;
}

export function statusUses(files: TextFile[]): StatusUse[] {
  const uses: StatusUse[] = [];
  for (const file of files) {
    const lineOf = (index: number) => file.text.slice(0, index).split('\n').length;
    for (const m of file.text.matchAll(/new TtmaError\(/g)) {
      const args = callArguments(file.text, m.index + m[0].length - 1);
      const code = /^ErrorCodes\.([A-Z_]+)$/.exec(args[0] ?? '');
      const status = /^[1-5]\d\d$/.exec(args[2] ?? '');
      if (code && status) uses.push({ code: code[1]!, status: Number(status[0]), where: `${file.path}:${lineOf(m.index)}` });
    }
    file.text.split('\n').forEach((line, i) => {
      if (line.includes('new TtmaError(')) return;
      const codes = [...line.matchAll(/ErrorCodes\.([A-Z_]+)/g)];
      if (codes.length !== 1) return;
      const status = /\bstatus: ([1-5]\d\d)\b|['"]([1-5]\d\d) [A-Z]/.exec(line);
      if (status) uses.push({ code: codes[0]![1]!, status: Number(status[1] ?? status[2]), where: `${file.path}:${i + 1}` });
    });
  }
  return uses;
}
