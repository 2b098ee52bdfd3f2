/**
 * `ttma demo`: platform, provider simulator and gateway (echo agent) as three
 * processes on loopback with embedded defaults and throwaway keys, then N
 * concurrent simulated inbound calls. Progress goes to stderr; the summary to
 * stdout (a table, or one JSON object with --json). `--drop-streams` breaks
 * each call's media socket halfway through (the simulator drops it without a
 * close frame, as a tunnel reconnect would) to show the gateway restarting
 * the stream: the calls must still complete and echo. `--tunnel-outage MS`
 * adds a tunnel that stays down that long from the same moment (a cloudflared
 * restart): new streams fail until it is back, and the gateway keeps asking.
 * The calls then talk until every stream is back plus the rest of their
 * length (a loaded box may ask again late), not a fixed length.
 * `--kill-gateway` kills the gateway process halfway (SIGKILL, as a crash) and
 * starts a new one, which takes the live calls over: they must still complete.
 * One more call is placed while no gateway is up: it rings until the new
 * process answers it, and must complete too. The calls then talk until the
 * takeover was seen plus half their length (a new process may take seconds
 * to start on a busy box), not a fixed length.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MEDIA_SOCKET_OWNERS } from '../config.js';
import { ErrorCodes, TtmaError } from '../errors.js';
import { intFlag, parseFlags } from './args.js';
import { AGENT_FLAGS } from './agentFlags.js';
import { DEMO_FLAGS } from './commandFlags.js';
import { DEMO_NUMBER, DEMO_TUNNEL_HOST, startDemoStack, stopDemoStack } from './demoStack.js';
import { READY_TIMEOUT_MS, startTtma, type Child } from './processes.js';
import { talkUntilStreamsBack, waitForStreams } from './demoTalk.js';
import { MAX_CALL_SECONDS } from '../sim/requests.js';
/** Phone-side codecs the demo runs end to end (the simulator speaks each of them). */
const DEMO_CODECS = ['PCMU', 'PCMA', 'L16', 'G722', 'OPUS'];
const PROGRESS_EVERY_MS = 1_000;
/** Calls get this long beyond their length to finish before the demo gives up on them. */
const END_GRACE_MS = 15_000;
/**
 * With --kill-gateway or --drop-streams: how long the demo waits for every call to have a new stream
 * (from the new gateway process, or asked again after the drop and any tunnel outage). A loaded box
 * may take seconds, so the calls do not end at a fixed time: each talks until its stream was seen
 * back plus the second half of its length, at most this longer.
 */
const STREAMS_BACK_WAIT_MS = 30_000;
/**
 * --kill-gateway: the call placed while no gateway is up rings this long before its caller gives up.
 * The simulator's default (10 s) is shorter than a loaded box's gateway start (11.6 s seen), so it
 * rings as long as the demo waits for the new process to be ready and then to take the calls over.
 */
const RING_WHILE_DOWN_SECONDS = (READY_TIMEOUT_MS + STREAMS_BACK_WAIT_MS) / 1000;

interface SimCallSummary {
  callId: string;
  endedBy: string | null;
  framesSent: number;
  framesReturned: number;
  /** null until the call has ended and its echo was analysed. */
  echo: { lagSamples: number; correlation: number } | null;
  roundTripMs: { count: number; p50: number; p99: number; max: number } | null;
  roundTripSamplesMs?: number[];
  cdr?: { ended_at: string | null };
  streamsOpened?: number;
  streamsLost?: number;
}

export interface DemoSummary {
  calls: { requested: number; completed: number; failed: number };
  frames: { sent: number; returned: number; lost: number };
  echo: { minCorrelation: number };
  roundTripMs: { p50: number; p99: number; max: number };
  workers: number;
  /** With --drop-streams: streams broken by the simulator, and new streams the gateway got for them; the tunnel's outage, ms. */
  streams?: { dropped: number; restarted: number; outageMs?: number };
  /**
   * With --kill-gateway: the calls live when the gateway process was killed, how long its
   * successor took to start, the calls that got a stream to it, and how long a caller had no
   * stream, on average (the frames a call's length would carry that were never sent).
   * `rangWhileDown`: the call placed while no gateway was up, and whether it was answered by the
   * new process and completed (its caller talked to the end and heard the echo).
   */
  gatewayKilled?: {
    liveCalls: number;
    restartMs: number;
    takenOver: number;
    streamGapMsPerCall: number;
    rangWhileDown: { callId: string; completed: boolean; echoCorrelation: number | null };
  };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? 0;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** The caller talked to the end and audio came back. */
function completed(call: SimCallSummary | undefined): boolean {
  return call?.endedBy === 'caller' && call.framesReturned > 0;
}

export function summarize(requested: number, calls: SimCallSummary[], workers: number): DemoSummary {
  const completedCalls = calls.filter(completed).length;
  const sent = calls.reduce((n, c) => n + c.framesSent, 0);
  const returned = calls.reduce((n, c) => n + c.framesReturned, 0);
  const lost = calls.reduce((n, c) => n + Math.max(0, c.framesSent - c.framesReturned), 0);
  const samples = calls.flatMap((c) => c.roundTripSamplesMs ?? []).sort((a, b) => a - b);
  return {
    calls: { requested, completed: completedCalls, failed: requested - completedCalls },
    frames: { sent, returned, lost },
    // Floored, never rounded up: a proof of audio must not overstate.
    echo: { minCorrelation: calls.length === requested ? Math.floor(Math.min(...calls.map((c) => c.echo?.correlation ?? 0)) * 1000) / 1000 : 0 },
    roundTripMs: { p50: round2(percentile(samples, 0.5)), p99: round2(percentile(samples, 0.99)), max: round2(samples.at(-1) ?? 0) },
    workers,
  };
}

/**
 * The lowest echo correlation that proves the audio sent came back, by codec: a lossy codec's round
 * trip (Opus, encoded at the simulator and again at the gateway) keeps the speech but not the
 * samples. The e2e demo tests measure 1.0 on a quiet box for each, and hold these floors.
 */
const ECHO_FLOOR: Record<string, number> = { PCMU: 0.9, PCMA: 0.9, L16: 0.9, G722: 0.9, OPUS: 0.6 };

/** Why the echo does not prove the audio made the trip, or null. Only the echo agent echoes. */
export function echoProblem(summary: Pick<DemoSummary, 'echo'>, codec: string, agent: string | undefined): string | null {
  if (agent !== undefined && agent !== 'echo') return null;
  const floor = ECHO_FLOOR[codec.toUpperCase()] ?? 0.9;
  const got = summary.echo.minCorrelation;
  return got >= floor ? null : `the echo's lowest correlation is ${got}, under ${floor}: the audio that came back is not the audio sent`;
}

/** The exit code: 0 when every call completed with its echo (and every check of the chosen mode passed), else 1. */
export async function runDemoCommand(argv: string[]): Promise<number> {
  const flags = parseFlags('demo', argv, DEMO_FLAGS);
  // Agent flags go to the gateway as given; it validates them (and reads the secret files).
  const agentArgs = Object.keys(AGENT_FLAGS).flatMap((name) => {
    const value = (flags as Record<string, unknown>)[name];
    return typeof value === 'string' ? [`--${name}`, value] : [];
  });

  const calls = intFlag('--calls', flags.calls, 8, 1, 5000);
  const seconds = intFlag('--seconds', flags.seconds, 10, 1, 3600);
  const workers = intFlag('--workers', flags.workers, Math.max(1, availableParallelism()), 1, 64);
  // Who owns the media sockets (docs/threads.md); the gateway's default when absent.
  const mediaSockets = flags['media-sockets'];
  if (mediaSockets !== undefined && !(MEDIA_SOCKET_OWNERS as readonly string[]).includes(mediaSockets)) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma demo: --media-sockets must be ${MEDIA_SOCKET_OWNERS.join(' or ')} (got "${mediaSockets}")`, 2);
  }
  // A tunnel outage only matters to streams that must reconnect: it goes with --drop-streams.
  const outageMs = flags['tunnel-outage'] === undefined ? 0 : intFlag('--tunnel-outage', flags['tunnel-outage'], 0, 1, 60_000);
  if (outageMs > 0 && !flags['drop-streams']) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, 'ttma demo: --tunnel-outage needs --drop-streams (the outage starts when the streams are dropped)', 2);
  }
  if (flags['kill-gateway'] && flags['drop-streams']) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, 'ttma demo: --kill-gateway and --drop-streams each break every call\'s stream halfway: choose one', 2);
  }
  const codec = (flags.codec ?? 'pcmu').toUpperCase();
  if (!DEMO_CODECS.includes(codec)) {
    throw new TtmaError(ErrorCodes.CLI_USAGE, `ttma demo: --codec must be one of ${DEMO_CODECS.map((c) => c.toLowerCase()).join(', ')} (got "${flags.codec}")`, 2);
  }
  const progress = (line: string) => process.stderr.write(`demo: ${line}\n`);
  if (flags.agent && flags.agent !== 'echo') {
    progress(`agent ${flags.agent}: calls talk to it; the echo figures below then measure only what came back`);
  }

  // Throwaway secrets and the logs.
  const dir = mkdtempSync(join(tmpdir(), 'ttma-demo-'));
  let children: Child[] = [];
  let exitCodes: Record<string, number | string> = {};
  let failed = false;
  /** Why the demo fails, said on stderr: exit 1 alone (the JSON is on stdout) names nothing. */
  const why: string[] = [];
  try {
    progress(`starting simulator, platform and gateway (${workers} media workers); logs in ${dir} (kept if the demo fails, or with --keep-logs)`);
    const stack = await startDemoStack({
      dir,
      workers,
      codec,
      mediaSockets,
      agentArgs,
      // Every call is answered at once: let the burst of answers through.
      rateLimit: Math.max(20, calls),
      // Telnyx does not say whether a stream that fails to connect ends its call; with an outage
      // the demo shows the case where the call survives it (the tests cover both).
      simArgs: outageMs > 0 ? ['--on-stream-failure', 'continue'] : [],
    });
    children = stack.children;
    const { sim, gatewayArgs } = stack;
    let gateway = children.at(-1)!;
    // Broken halfway, a call's end follows its stream's return (talkUntilStreamsBack): it may talk that much longer.
    const breaks = flags['kill-gateway'] || flags['drop-streams'];
    const talkSeconds = breaks ? Math.min(MAX_CALL_SECONDS, seconds + STREAMS_BACK_WAIT_MS / 1000) : seconds;
    progress(`placing ${calls} concurrent inbound ${codec} calls of ${seconds} s`);
    const ids = await Promise.all(
      Array.from({ length: calls }, async (_, i) => {
        const placed = await sim.request<{ call_control_id: string }>('POST', '/sim/calls/inbound', {
          from: `+1555020${String(i).padStart(4, '0')}`,
          to: DEMO_NUMBER,
          seconds: talkSeconds,
          seed: i + 1,
          codec,
        });
        return placed.call_control_id;
      }),
    );
    const wanted = new Set(ids);
    const started = Date.now();
    let dropped = 0;
    /** With --kill-gateway or --drop-streams: the calls' talk, summed (what their frames would have covered with no gap). */
    let talkedMs = 0;
    const talkUntilBack = async (backLine: string, notBackLine: string): Promise<void> => {
      talkedMs = await talkUntilStreamsBack(sim, {
        ids,
        waitMs: STREAMS_BACK_WAIT_MS,
        restMs: (seconds * 1000) / 2,
        progress: (back, restMs) => progress(`${back ? backLine : notBackLine}; they talk ${restMs / 1000} s more`),
        failed: (id, err) => progress(`could not end the talk of ${id}: ${err.message}`),
      });
    };
    // Halfway through a call's talk, which starts when its stream opens (late, on a loaded box).
    const halfway = async (): Promise<void> => {
      await waitForStreams(sim, ids, 0, STREAMS_BACK_WAIT_MS);
      await sleep((seconds * 1000) / 2, undefined, { ref: false });
    };
    const dropAll = async (): Promise<void> => {
      await halfway();
      const tunnelPath = `/sim/tunnels/${encodeURIComponent(DEMO_TUNNEL_HOST)}`;
      if (outageMs > 0) await sim.request('POST', `${tunnelPath}/down`);
      await Promise.all(
        ids.map((id) =>
          sim.request('POST', `/sim/calls/${encodeURIComponent(id)}/drop_stream`).then(
            () => void dropped++,
            (err: Error) => progress(`could not drop the stream of ${id}: ${err.message}`),
          ),
        ),
      );
      progress(`dropped ${dropped} of ${calls} media streams halfway (no close frame): the gateway should restart each`);
      if (outageMs > 0) {
        progress(`the tunnel is down for ${outageMs} ms (a cloudflared restart): new streams fail until it is back`);
        await sleep(outageMs, undefined, { ref: false });
        await sim.request('POST', `${tunnelPath}/up`);
        progress('the tunnel is back');
      }
      await talkUntilBack('every stream is back', `not every stream came back within ${STREAMS_BACK_WAIT_MS / 1000} s`);
    };
    let killed: DemoSummary['gatewayKilled'] | undefined;
    /** Placed while no gateway is up (--kill-gateway): it rings until the new process answers it. */
    let rangWhileDown: string | null = null;
    const killGateway = async (): Promise<void> => {
      await halfway();
      const live = (await sim.request<{ data: SimCallSummary[] }>('GET', '/sim/calls')).data.filter((c) => wanted.has(c.callId) && !c.endedBy).length;
      gateway.process.kill('SIGKILL');
      await gateway.exited;
      children.splice(children.indexOf(gateway), 1);
      const ringing = await sim.request<{ call_control_id: string }>('POST', '/sim/calls/inbound', {
        from: '+15550299999',
        to: DEMO_NUMBER,
        seconds: Math.max(1, Math.round(seconds / 2)),
        seed: calls + 1,
        codec,
        answerTimeoutSeconds: RING_WHILE_DOWN_SECONDS,
      });
      rangWhileDown = ringing.call_control_id;
      progress(`killed the gateway process (SIGKILL) with ${live} calls live, and placed a call while it is down; starting a new one`);
      const t0 = Date.now();
      gateway = await startTtma('gateway', gatewayArgs, join(dir, 'gateway-2.log'));
      children.push(gateway);
      killed = { liveCalls: live, restartMs: Date.now() - t0, takenOver: 0, streamGapMsPerCall: 0, rangWhileDown: { callId: rangWhileDown, completed: false, echoCorrelation: null } };
      progress(`the new gateway process started in ${killed.restartMs} ms and takes the calls over`);
      await talkUntilBack('the calls are taken over', `not every call was taken over within ${STREAMS_BACK_WAIT_MS / 1000} s`);
    };
    const drops = flags['drop-streams'] ? dropAll() : flags['kill-gateway'] ? killGateway() : Promise.resolve();
    const deadline = started + talkSeconds * 1000 + END_GRACE_MS;
    let summaries: SimCallSummary[] = [];
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, PROGRESS_EVERY_MS));
      const all = await sim.request<{ data: SimCallSummary[] }>('GET', '/sim/calls');
      summaries = all.data.filter((c) => wanted.has(c.callId));
      // A call counts as ended once its report (with the echo analysis) is final.
      const ended = summaries.filter((c) => c.endedBy && c.echo).length;
      const ringingEnded = rangWhileDown === null || all.data.some((c) => c.callId === rangWhileDown && c.endedBy && c.echo);
      const sent = summaries.reduce((n, c) => n + c.framesSent, 0);
      const back = summaries.reduce((n, c) => n + c.framesReturned, 0);
      progress(`${((Date.now() - started) / 1000).toFixed(0)} s | live ${summaries.length - ended} | ended ${ended}/${calls} | frames sent ${sent}, returned ${back}`);
      if ((ended === calls && ringingEnded) || Date.now() > deadline) break;
    }
    await drops;
    const detailed = await sim.request<{ data: SimCallSummary[] }>('GET', '/sim/calls?samples=1');
    summaries = detailed.data.filter((c) => wanted.has(c.callId));
    const rang = detailed.data.find((c) => c.callId === rangWhileDown);
    const summary = summarize(calls, summaries, Number(gateway.ready.workers ?? workers));
    if (flags['drop-streams']) {
      const restarted = summaries.reduce((n, c) => n + Math.max(0, (c.streamsOpened ?? 1) - 1), 0);
      summary.streams = { dropped, restarted, ...(outageMs > 0 ? { outageMs } : {}) };
      if (restarted < dropped) why.push(`${restarted} of ${dropped} dropped streams came back`);
    }
    if (killed) {
      killed.takenOver = summaries.reduce((n, c) => n + Math.max(0, (c.streamsOpened ?? 1) - 1), 0);
      // A simulated caller sends a frame every 20 ms while it has a stream, for as long as it talks.
      killed.streamGapMsPerCall = Math.max(0, Math.round((talkedMs - summary.frames.sent * 20) / calls));
      killed.rangWhileDown.completed = completed(rang);
      killed.rangWhileDown.echoCorrelation = rang?.echo ? Math.round(rang.echo.correlation * 1000) / 1000 : null;
      summary.gatewayKilled = killed;
      if (killed.takenOver < killed.liveCalls) why.push(`the new gateway process took ${killed.takenOver} of ${killed.liveCalls} live calls over`);
      if (!killed.rangWhileDown.completed) why.push('the call placed while no gateway was up did not complete');
    }
    exitCodes = await stopDemoStack(children);
    const cleanExit = Object.values(exitCodes).every((code) => code === 0);
    if (!cleanExit) why.push(`a process did not stop cleanly (exit codes ${Object.entries(exitCodes).map(([k, v]) => `${k}=${v}`).join(' ')})`);
    if (summary.calls.failed > 0) why.push(`${summary.calls.failed} of ${calls} calls did not complete (the caller talked to the end and heard audio back)`);
    const echo = echoProblem(summary, codec, flags.agent);
    if (echo) why.push(echo);
    if (why.length > 0) {
      failed = true;
      progress(`FAILED: ${why.join('; ')}`);
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      printTable(summary, exitCodes);
    }
  } catch (err) {
    failed = true;
    await stopDemoStack(children);
    throw err;
  } finally {
    if (!flags['keep-logs'] && !failed) rmSync(dir, { recursive: true, force: true });
    else progress(`logs kept in ${dir}`);
  }
  return failed ? 1 : 0;
}

function printTable(s: DemoSummary, exitCodes: Record<string, number | string>): void {
  const rows: Array<[string, string]> = [
    ['calls requested / completed / failed', `${s.calls.requested} / ${s.calls.completed} / ${s.calls.failed}`],
    ['frames sent / returned / lost', `${s.frames.sent} / ${s.frames.returned} / ${s.frames.lost}`],
    ['echo min correlation', s.echo.minCorrelation.toFixed(3)],
    ['round trip p50 / p99 / max (ms)', `${s.roundTripMs.p50} / ${s.roundTripMs.p99} / ${s.roundTripMs.max}`],
    ['media workers', String(s.workers)],
    ...(s.gatewayKilled
      ? ([
          ['gateway killed: calls live / taken over', `${s.gatewayKilled.liveCalls} / ${s.gatewayKilled.takenOver}`],
          ['new gateway up / no stream a call (ms)', `${s.gatewayKilled.restartMs} / ${s.gatewayKilled.streamGapMsPerCall}`],
          ['call placed while no gateway was up', s.gatewayKilled.rangWhileDown.completed ? `answered by the new one, completed (echo ${s.gatewayKilled.rangWhileDown.echoCorrelation?.toFixed(3) ?? '?'})` : 'NOT completed'],
        ] as Array<[string, string]>)
      : []),
    ...(s.streams ? [[`streams dropped / restarted${s.streams.outageMs ? ` (tunnel down ${s.streams.outageMs} ms)` : ''}`, `${s.streams.dropped} / ${s.streams.restarted}`] as [string, string]] : []),
    ['clean shutdown (exit codes)', Object.entries(exitCodes).map(([k, v]) => `${k}=${v}`).join(' ')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}
