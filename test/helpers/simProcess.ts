/**
 * The arguments of a `ttma sim` process that signs webhooks to a platform and
 * a gateway on loopback, and routes one tunnel host to the gateway (the
 * process tests start the real commands with them).
 */
export interface SimProcessPorts {
  sim: number;
  platform: number;
  tunnel: number;
}

export function simProcessArgs(ports: SimProcessPorts, files: { apiKey: string; signingKey: string }, tunnelHost: string): string[] {
  return [
    'sim', '--port', String(ports.sim), '--api-key-file', files.apiKey,
    '--signing-key-file', files.signingKey,
    '--webhook-url', `http://127.0.0.1:${ports.platform}/v1/provider/webhooks`,
    '--webhook-url', `http://127.0.0.1:${ports.tunnel}/v1/webhooks/provider`,
    '--tunnel', `${tunnelHost}=ws://127.0.0.1:${ports.tunnel}`,
  ];
}
