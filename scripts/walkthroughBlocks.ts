/**
 * The shell blocks of docs/walkthrough.md, in order, with the instructions
 * for scripts/walkthroughCheck.ts that the page gives in HTML comments right
 * before a block (invisible once rendered):
 *   <!-- check: skip WHY -->          not run (WHY is reported)
 *   <!-- check: wait FILE TEXT -->    after the block, until FILE (relative to the
 *                                     shell's directory) holds TEXT: a process it
 *                                     started in the background is ready
 *   <!-- check: expect TEXT -->       the block's output holds TEXT
 *   <!-- check: timeout SECONDS -->   the block's own bound (default 60 s)
 */
import { ErrorCodes, TtmaError } from '../src/errors.js';

export interface WalkBlock {
  /** 1-based, among the page's sh blocks (skipped ones counted). */
  index: number;
  /** The line of the opening fence, 1-based. */
  line: number;
  /** The heading the block stands under. */
  section: string;
  code: string;
  skip: string | null;
  waits: { file: string; text: string }[];
  expects: string[];
  timeoutSec: number;
}

export const DEFAULT_BLOCK_TIMEOUT_SEC = 60;
const DIRECTIVE = /^<!--\s*check:\s*(\w+)\s*(.*?)\s*-->$/;

function pageError(line: number, message: string): TtmaError {
  return new TtmaError(ErrorCodes.CONFIG, `docs/walkthrough.md line ${line}: ${message}`);
}

export function walkthroughBlocks(markdown: string): WalkBlock[] {
  const lines = markdown.split('\n');
  const blocks: WalkBlock[] = [];
  let section = '';
  let pending: Omit<WalkBlock, 'index' | 'line' | 'section' | 'code'> = fresh();
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.startsWith('#')) section = text.replace(/^#+\s*/, '');
    const directive = DIRECTIVE.exec(text.trim());
    if (directive) {
      addDirective(pending, directive[1] ?? '', directive[2] ?? '', i + 1);
      continue;
    }
    if (!text.startsWith('```')) {
      // A directive belongs to the very next block: prose in between would hide which one.
      if (text.trim() !== '' && hasDirectives(pending)) throw pageError(i + 1, 'a check: comment must come right before its ```sh block');
      continue;
    }
    const fenceLine = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
    if (i >= lines.length) throw pageError(fenceLine, 'a code block is not closed');
    if (text.trim() === '```sh') {
      blocks.push({ index: blocks.length + 1, line: fenceLine, section, code: `${body.join('\n')}\n`, ...pending });
    } else if (hasDirectives(pending)) {
      throw pageError(fenceLine, 'check: comments are for ```sh blocks only');
    }
    pending = fresh();
  }
  return blocks;
}

function fresh(): Omit<WalkBlock, 'index' | 'line' | 'section' | 'code'> {
  return { skip: null, waits: [], expects: [], timeoutSec: DEFAULT_BLOCK_TIMEOUT_SEC };
}

function hasDirectives(p: Omit<WalkBlock, 'index' | 'line' | 'section' | 'code'>): boolean {
  return p.skip !== null || p.waits.length > 0 || p.expects.length > 0 || p.timeoutSec !== DEFAULT_BLOCK_TIMEOUT_SEC;
}

function addDirective(p: Omit<WalkBlock, 'index' | 'line' | 'section' | 'code'>, kind: string, rest: string, line: number): void {
  if (kind === 'skip') {
    if (rest === '') throw pageError(line, 'check: skip needs a reason');
    p.skip = rest;
  } else if (kind === 'wait') {
    const space = rest.indexOf(' ');
    if (space <= 0) throw pageError(line, 'check: wait needs a file and a text');
    p.waits.push({ file: rest.slice(0, space), text: rest.slice(space + 1) });
  } else if (kind === 'expect') {
    if (rest === '') throw pageError(line, 'check: expect needs a text');
    p.expects.push(rest);
  } else if (kind === 'timeout') {
    const seconds = Number(rest);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw pageError(line, 'check: timeout needs whole seconds from 1 to 3600');
    p.timeoutSec = seconds;
  } else {
    throw pageError(line, `unknown check: comment "${kind}" (skip, wait, expect, timeout)`);
  }
}
