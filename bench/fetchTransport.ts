/**
 * The provider transport the platform used before (fetch / undici), kept
 * only so bench/platformProxy.ts can time it beside the node:http one in the
 * same run.
 */
import type { ProviderTransport } from '../src/platform/providerTransport.js';

export function fetchTransport(): ProviderTransport {
  return {
    async request(method, url, headers, body, timeoutMs) {
      const response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      return { status: response.status, text: await response.text() };
    },
    close() {},
  };
}
