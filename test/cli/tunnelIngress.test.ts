/**
 * The cloudflared ingress rules: only the two public path families of the
 * registered hostname reach the tunnel listener, anchored, with the 404
 * catch-all last (DESIGN 7, FAQ-04); bad input is refused, never written into
 * a config another program parses; `ttma gateway` prints them on stderr.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePorts, startTtma, stopChild } from '../../src/cli/processes.js';
import { cloudflaredIngress, PUBLIC_PATH_PATTERNS } from '../../src/cli/tunnelIngress.js';
import { isTtmaError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ttma-ingress-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXPECTED = `ingress:
  - hostname: gw.example.com
    path: ^/v1/webhooks/
    service: http://127.0.0.1:8080
  - hostname: gw.example.com
    path: ^/v1/media/
    service: http://127.0.0.1:8080
  - service: http_status:404
`;

/** The rules as { hostname?, path?, service } objects, read back from the YAML's fixed shape. */
function rules(yaml: string): Array<Record<string, string>> {
  const lines = yaml.trimEnd().split('\n');
  assert.equal(lines[0], 'ingress:');
  const out: Array<Record<string, string>> = [];
  for (const line of lines.slice(1)) {
    const m = /^ {2}(- | {2})([a-z]+): (.+)$/.exec(line);
    assert.ok(m, `unexpected line ${JSON.stringify(line)}`);
    if (m[1] === '- ') out.push({});
    out[out.length - 1]![m[2]!] = m[3]!;
  }
  return out;
}

test('the YAML is exactly two path rules for the hostname and a 404 catch-all', () => {
  assert.equal(cloudflaredIngress('gw.example.com', 8080), EXPECTED);
  assert.deepEqual(rules(cloudflaredIngress('gw.example.com', 8080)), [
    { hostname: 'gw.example.com', path: '^/v1/webhooks/', service: 'http://127.0.0.1:8080' },
    { hostname: 'gw.example.com', path: '^/v1/media/', service: 'http://127.0.0.1:8080' },
    { service: 'http_status:404' },
  ]);
});

test('the catch-all is last and the only rule without hostname and path', () => {
  const parsed = rules(cloudflaredIngress('a-b.trycloudflare.com', 443));
  const last = parsed.at(-1);
  assert.deepEqual(last, { service: 'http_status:404' });
  for (const rule of parsed.slice(0, -1)) {
    assert.equal(rule.hostname, 'a-b.trycloudflare.com');
    assert.ok(rule.path, 'every routed rule is limited to a path');
    assert.equal(rule.service, 'http://127.0.0.1:443');
  }
});

test('the path regexes are anchored: only the public families match (Go and JS agree on these patterns)', () => {
  assert.deepEqual([...PUBLIC_PATH_PATTERNS], ['^/v1/webhooks/', '^/v1/media/']);
  const patterns = rules(cloudflaredIngress('gw.example.com', 8080)).flatMap((r) => (r.path ? [new RegExp(r.path)] : []));
  const routed = (path: string) => patterns.some((p) => p.test(path));
  for (const path of ['/v1/webhooks/provider', '/v1/media/v3:abc']) assert.ok(routed(path), path);
  for (const path of ['/debug/status', '/healthz', '/metrics', '/', '/x/v1/webhooks/provider', '/evil/v1/media/x', '/v1/webhooks', '/v1/mediax/1', '/V1/media/x']) {
    assert.ok(!routed(path), `${path} must fall through to the 404 catch-all`);
  }
});

test('an IPv6 loopback gateway is reached at [::1]; a non-loopback bind is refused', () => {
  assert.match(cloudflaredIngress('gw.example.com', 9000, '::1'), /service: http:\/\/\[::1\]:9000\n/);
  assert.match(cloudflaredIngress('gw.example.com', 9000, 'localhost'), /service: http:\/\/127\.0\.0\.1:9000\n/);
  for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
    assert.throws(() => cloudflaredIngress('gw.example.com', 9000, host), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /loopback/.test(err.message), host);
  }
});

test('hostnames that are not lowercase DNS names are refused (nothing is lowercased for you)', () => {
  const bad = [
    'evil host', 'a/b', 'EXAMPLE.com', 'Gw.Example.Com', '', 'localhost', 'gw.example.com.', '.example.com', '-gw.example.com', 'gw-.example.com',
    'gw..example.com', '*.example.com', 'gw.example.com:8080', 'http://gw.example.com', 'gw_x.example.com', `${'a'.repeat(64)}.example.com`,
    'gw.example.com\n  - service: http://127.0.0.1:8081', 'gw.example.com # x', 'gw.exämple.com',
  ];
  for (const hostname of bad) {
    assert.throws(() => cloudflaredIngress(hostname, 8080), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /hostname/.test(err.message), JSON.stringify(hostname));
  }
});

test('ports outside 1..65535 are refused', () => {
  for (const port of [0, -1, 65536, 1.5, Number.NaN]) {
    assert.throws(() => cloudflaredIngress('gw.example.com', port), (err) => isTtmaError(err, 'TTMA_ERR_CONFIG') && /port/.test(err.message), String(port));
  }
  assert.doesNotThrow(() => cloudflaredIngress('gw.example.com', 65535));
});

test('ttma gateway prints the rules for its tunnel port on stderr; stdout keeps only the ready line', async () => {
  const [tunnelPort, localPort, platformPort] = (await freePorts(3)) as [number, number, number];
  const secret = join(dir, 'agent');
  writeFileSync(secret, 'y'.repeat(32));
  chmodSync(secret, 0o600);
  const log = join(dir, 'gateway.log');
  const gateway = await startTtma('gateway', [
    'gateway', '--tunnel-port', String(tunnelPort), '--local-port', String(localPort), '--workers', '1',
    '--public-host', 'ingress-test.trycloudflare.com', '--platform-url', `http://127.0.0.1:${platformPort}`,
    '--deployment-id', 'ingress', '--agent-secret-file', secret, '--number', '+15550100000',
  ], log);
  try {
    assert.equal(gateway.ready.event, 'ready');
    assert.equal(gateway.ready.tunnelPort, tunnelPort);
    const header = '# put these ingress rules in your cloudflared config';
    const expected = cloudflaredIngress('ingress-test.trycloudflare.com', tunnelPort);
    const deadline = Date.now() + 5_000;
    let text = readFileSync(log, 'utf8');
    while (!text.includes(expected) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = readFileSync(log, 'utf8');
    }
    const at = text.indexOf(header);
    assert.ok(at >= 0, `no ingress header in the gateway's stderr:\n${text}`);
    const headerEnd = text.indexOf('\n', at) + 1;
    assert.equal(text.slice(headerEnd, headerEnd + expected.length), expected, 'the rules follow the header line');
    assert.ok(!text.includes(`:${localPort}\n`), 'the local (diagnostics) port is never a tunnel target');
  } finally {
    assert.equal(await stopChild(gateway), 0);
  }
});
