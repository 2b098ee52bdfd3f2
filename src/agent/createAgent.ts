/** One adapter per call, from its config (on the media worker). */
import type { AgentAdapter } from './AgentAdapter.js';
import type { AgentConfig } from './agentConfig.js';
import { EchoAgent } from './EchoAgent.js';
import { OpenClawAgent } from './OpenClawAgent.js';
import { RealtimeAgent } from './RealtimeAgent.js';
import { WsAgent } from './WsAgent.js';
import type { PromptPcm } from '../media/PromptAudio.js';

/** Audio the gateway operator configured for every call (decoded once at start). */
export interface AgentPrompts {
  /** Played while the agent consults, instead of the built-in cue. */
  hold: PromptPcm | null;
}

export function createAgent(config: AgentConfig, prompts: AgentPrompts = { hold: null }): AgentAdapter {
  switch (config.kind) {
    case 'echo':
      return new EchoAgent();
    case 'ws':
      return new WsAgent({ url: config.url, token: config.token });
    case 'realtime':
      return new RealtimeAgent(config, prompts.hold);
    case 'openclaw':
      return new OpenClawAgent(config);
  }
}
