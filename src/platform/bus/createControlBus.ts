/** The platform's control bus: Redis pub/sub when a URL is given (processes share one Redis), else none to reach. */
import type { Logger } from '../../log.js';
import { MemoryControlBus, type ControlBus } from './ControlBus.js';
import { RedisControlBus } from './RedisControlBus.js';

export function createControlBus(redisUrl: string | undefined | null, log: Logger): ControlBus {
  return redisUrl ? new RedisControlBus({ url: redisUrl, log }) : new MemoryControlBus();
}
