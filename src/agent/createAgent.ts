/** One adapter per call, from its config (on the media worker). */
import type { AgentAdapter } from './AgentAdapter.js';
import type { AgentConfig } from './agentConfig.js';
import { EchoAgent } from './EchoAgent.js';
import { OpenClawAgent } from './OpenClawAgent.js';
import { RealtimeAgent } from './RealtimeAgent.js';
import { WsAgent } from './WsAgent.js';

export function createAgent(config: AgentConfig): AgentAdapter {
  switch (config.kind) {
    case 'echo':
      return new EchoAgent();
    case 'ws':
      return new WsAgent({ url: config.url, token: config.token });
    case 'realtime':
      return new RealtimeAgent(config);
    case 'openclaw':
      return new OpenClawAgent(config);
  }
}
