/**
 * Summarise a V8 CPU profile (`node --cpu-prof`): total sampled time and the
 * functions with the most self time. Used for bench/RESULTS.md's profiling
 * notes (`npm run bench -- --profile-dir DIR` profiles the gateway's threads).
 *
 *   node dist/bench/cpuProfileTop.js FILE.cpuprofile [TOP=20] [--by-file]
 *
 * `--by-file` sums self time per source file instead of per function (native
 * and V8 entries keep their own names), to see which part of the system costs what.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const byFile = args.includes('--by-file');
const [file, topArg] = args.filter((a) => a !== '--by-file');
if (!file) {
  process.stderr.write('usage: cpuProfileTop FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<string, number>();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  totalUs += dt;
  const frame = byId.get(id)?.callFrame;
  const where = frame ? frame.url.split('/').slice(-2).join('/') : '';
  const key = !frame ? '?' : byFile && where ? where : `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
});
const busyUs = totalUs - (selfUs.get('(idle) :0') ?? 0);
process.stdout.write(`sampled ${(totalUs / 1000).toFixed(0)} ms, busy ${(busyUs / 1000).toFixed(0)} ms\n`);
const top = [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 20));
for (const [key, us] of top) {
  process.stdout.write(`${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}\n`);
}
