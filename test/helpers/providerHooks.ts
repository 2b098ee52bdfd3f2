/**
 * The platform's real provider transport with a test's hooks around each
 * request: hold an answer until the caller is gone, slow hang-ups, act once a
 * dial's answer is back. The request itself still goes to the simulator.
 */
import { nodeHttpTransport, type ProviderTransport } from '../../src/platform/providerTransport.js';

type Method = Parameters<ProviderTransport['request']>[0];
type Hook = (method: Method, url: URL, body: string | undefined) => void | Promise<void>;

export function hookedProviderTransport(hooks: { before?: Hook; after?: Hook }): (base: URL, maxResponseBytes: number) => ProviderTransport {
  return (base, maxResponseBytes) => {
    const inner = nodeHttpTransport(base, maxResponseBytes);
    return {
      request: async (method, url, headers, body, timeoutMs) => {
        await hooks.before?.(method, url, body);
        const response = await inner.request(method, url, headers, body, timeoutMs);
        await hooks.after?.(method, url, body);
        return response;
      },
      close: () => inner.close(),
    };
  };
}
