/**
 * The docs and the CLI name the same subcommands and flags: every flag a
 * command's parser takes is in its `--help` text or a page that text names,
 * and every `ttma <command> --flag` written in README.md, docs/ or the skill
 * is one that command takes. Flag tables come from src/cli/commandFlags.ts,
 * the help text from src/cli/usage.ts (both data only).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMAND_FLAGS } from '../../src/cli/commandFlags.js';
import { USAGE, usageOf } from '../../src/cli/usage.js';
import { GATEWAY_KEYS } from '../../src/configFile/gatewaySettings.js';
import { PLATFORM_KEYS } from '../../src/configFile/platformSettings.js';
import { codeSnippets, ROOT, userDoc, userDocs } from '../helpers/docsCorpus.js';

const COMMANDS = Object.keys(COMMAND_FLAGS);
/** `--name` as a whole flag (not the start of a longer one). */
const flagPattern = (name: string) => new RegExp(`--${name}(?![a-z0-9-])`);

test('every flag a command takes is in its --help text or a docs page that text names', () => {
  const missing: string[] = [];
  for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
    // The command's own lines: the footer names docs/configuration.md for every command.
    const usage = (usageOf(command) ?? '').split('\n\nAll commands:')[0]!;
    if (command !== 'help' && command !== 'version') assert.ok(usage, `ttma ${command} --help prints nothing`);
    const pages = [...usage.matchAll(/docs\/[a-z-]+\.md/g)].map((m) => userDoc(m[0]).text);
    for (const name of Object.keys(flags)) {
      if (![usage, ...pages].some((text) => flagPattern(name).test(text))) missing.push(`ttma ${command} --${name}`);
    }
  }
  assert.deepEqual(missing, [], 'flags the parser takes that neither the help text nor its pages mention');
});

test('every flag a command takes is mentioned in the user docs', () => {
  const all = userDocs().map((d) => d.text).join('\n');
  const missing = Object.entries(COMMAND_FLAGS).flatMap(([command, flags]) =>
    Object.keys(flags).filter((name) => !flagPattern(name).test(all)).map((name) => `ttma ${command} --${name}`),
  );
  assert.deepEqual(missing, []);
});

/** The flags written after `ttma <command>` in one snippet, up to where another program or command starts. */
function invocations(snippet: string): { command: string; flags: string[] }[] {
  const out: { command: string; flags: string[] }[] = [];
  // `ttma demo ...`, `node dist/src/cli/ttma.js demo ...`, `npm run ttma -- demo ...`, `npm run -s demo -- ...`.
  for (const m of snippet.matchAll(/\bttma(?:\.js)?(?: --)? ([a-z]+)(?![a-z-])|\bnpm run(?: -s)? (demo)(?: --)?/g)) {
    let rest = snippet.slice(m.index + m[0].length);
    const end = rest.search(/\s\|\s+[a-z]|&&|;|\|\||\s>|\bttma\b/);
    if (end >= 0) rest = rest.slice(0, end);
    out.push({ command: (m[1] ?? m[2])!, flags: [...rest.matchAll(/(?:^|[\s[(|])--([a-z][a-z0-9-]*)/g)].map((f) => f[1]!) });
  }
  return out;
}

test('every `ttma <command> --flag` in README.md, docs/ and the skill is a command and a flag it takes', () => {
  const wrong: string[] = [];
  let seen = 0;
  for (const doc of userDocs()) {
    for (const snippet of codeSnippets(doc.text)) {
      for (const { command, flags } of invocations(snippet)) {
        seen++;
        const table = COMMAND_FLAGS[command];
        if (!table) {
          // A word after "ttma" in prose ("the ttma entry") is no command line unless flags follow.
          if (flags.length > 0) wrong.push(`${doc.path}: ttma ${command}: no such command (in \`${snippet.slice(0, 80)}\`)`);
          continue;
        }
        for (const flag of flags) if (!(flag in table) && flag !== 'help') wrong.push(`${doc.path}: ttma ${command} --${flag}: not a flag of ${command} (in \`${snippet.slice(0, 80)}\`)`);
      }
    }
  }
  assert.ok(seen > 50, `the docs' ttma command lines were read (${seen})`);
  assert.deepEqual(wrong, []);
});

test('each config key\'s flag is its command\'s; the gateway\'s flags without a key are the ones docs/configuration.md lists', () => {
  const keyFlags = (specs: typeof GATEWAY_KEYS) => specs.flatMap((s) => (s.flag ? [s.flag.split(' ')[0]!.slice(2)] : []));
  for (const [command, specs] of [['gateway', GATEWAY_KEYS], ['platform', PLATFORM_KEYS]] as const) {
    const table = COMMAND_FLAGS[command]!;
    assert.deepEqual(keyFlags(specs).filter((f) => !(f in table)), [], `${command}: key flags its parser does not take`);
  }
  const gatewayOnly = Object.keys(COMMAND_FLAGS['gateway']!).filter((f) => !keyFlags(GATEWAY_KEYS).includes(f)).sort();
  const sentence = /^Flags only \(not in the file\):([\s\S]*?)\n\n/m.exec(userDoc('docs/configuration.md').text);
  assert.ok(sentence, 'the "Flags only" sentence of docs/configuration.md');
  const listed = [...sentence[1]!.matchAll(/`--([a-z-]+)`/g)].map((m) => m[1]!).sort();
  assert.deepEqual(listed, gatewayOnly);
  const platformOnly = Object.keys(COMMAND_FLAGS['platform']!).filter((f) => !keyFlags(PLATFORM_KEYS).includes(f)).sort();
  assert.deepEqual(platformOnly, ['config', 'print-config']);
});

test('the subcommands ttma.ts dispatches, the help text and the flag tables are the same list', () => {
  const dispatched = [...readFileSync(join(ROOT, 'src/cli/ttma.ts'), 'utf8').matchAll(/case '([a-z]+)':/g)].map((m) => m[1]!);
  const helped = [...USAGE.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
  assert.deepEqual([...new Set(dispatched)].sort(), COMMANDS.slice().sort());
  assert.deepEqual(helped.sort(), COMMANDS.slice().sort());
});
