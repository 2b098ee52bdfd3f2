/**
 * The text of `ttma help`, and each command's part of it for `ttma <command> --help`.
 * Pure data: test/docs/ reads it next to the flag tables (src/cli/commandFlags.ts).
 */
export const USAGE = `usage: ttma <command> [flags]

commands:
  demo       run platform, simulator, gateway and echo agent locally and place calls
             [--calls N (8)] [--seconds S (10)] [--workers W] [--codec pcmu|pcma|l16|g722|opus] [--json]
             [--media-sockets worker|front] [--keep-logs] [--agent echo|ws|openclaw|realtime and the gateway's agent flags, docs/configuration.md]
             [--drop-streams] [--tunnel-outage MS] [--kill-gateway]: see a stream, a tunnel or the gateway lost
             mid-call and the calls kept (docs/control.md)
  gateway    run the voice gateway on 127.0.0.1
             [--config FILE] [--print-config] and flags (docs/configuration.md)
  doctor     check a gateway configuration and the running gateway (the gateway's flags, docs/configuration.md)
             [--json]; exits 1 if any check fails
             [--install-dir D]: also the installed units (as systemd reads them, $SYSTEMD_UNIT_PATH
             included), secrets and bundle digests; [--root DIR] with it: an offline image or chroot,
             every systemd directory looked up under DIR (as systemctl --root); docs/doctor.md
  platform   run the control plane (signalling proxy, identity, allowlists)
             [--config FILE] [--print-config] and flags (docs/configuration.md)
  install    redeem a one-time install token and install the gateway and skill
             --token-file F | --token - (stdin) | --token T --platform-url URL
             [--dir D] [--workspace W] [--user U] [--node P] [--cloudflared P] [--tunnel-port N] [--local-port N] [--json]
  call       place an outbound call through the running gateway and the platform
             <+E.164> | --to <+E.164> [--from <+E.164>] [--local-port P (8081)]
             [--agent-secret-file F | --install-dir D]; prints one JSON line ([--json] changes nothing)
  calls      recent calls, newest first, as the running gateway saw them or (--source platform)
             as the platform recorded them (billed duration, cost, hang-up cause)
             [--recent N (10, at most 100)] [--source gateway|platform] [--json] [--local-port P] [--agent-secret-file F | --install-dir D];
             --recording <call id> --out <file.mp3> saves one of the deployment's recordings (a new file, 0600);
             --delete-recording <call id> deletes one for good, at the platform and the phone provider
  dashboard  a one-time sign-in link (one minute) to this deployment's dashboard on the platform:
             calls, recordings, minutes against caps, recording switch [--json] [--local-port P] [--agent-secret-file F | --install-dir D]
  recording  whether the platform records this deployment's calls; on|off turns it on or off
             (off also stops it on calls in progress) [on|off] [--json] [--local-port P] [--agent-secret-file F | --install-dir D];
             --delete-existing also deletes every recording kept so far, at the platform and the phone provider
  deployments  the platform's deployments, as a backup for a Redis that loses its data (docs/operations.md), run on the platform's host
             export --out FILE [--force]: every deployment (secret digests only) to a new file, 0600, written whole;
             --force replaces an existing FILE
             import FILE: each deployment of an export not registered yet; never overwrites (skipped), says which were refused
             [--platform-url URL (http://127.0.0.1:8090)] [--admin-token-file F (/etc/ttma-platform/admin-token)] [--json]
  sim        run the phone-provider simulator
             [--port P] [--api-key-file F] [--signing-key-file F] [--webhook-url URL]... [--tunnel HOST=ORIGIN]...
             [--sign-with tweetnacl|node] [--audio-source live|bank] [--on-stream-failure hangup|continue] [--recording-url-ttl S];
             --write-signing-key F writes a new signing key (F, 0600) and its public key (F.pub) for the other flag and exits
  version    print the version
  help       this text`;

/** The lines of USAGE about one command, or null when it has none. */
export function usageOf(command: string): string | null {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`  ${command} `));
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && /^ {13}/.test(lines[end]!)) end++;
  return `usage: ttma ${command} [flags]\n\n${lines.slice(start, end).join('\n')}\n\nAll commands: ttma help. Configuration keys and flags: docs/configuration.md.`;
}
