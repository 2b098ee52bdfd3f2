/**
 * Debian's chromium for browser tests, driven by playwright-core (which
 * never downloads a browser). Missing: under CI (CI set) it throws, so the
 * suite fails rather than silently skips; elsewhere `chromiumUnavailable()`
 * gives a reason for `test.skip`.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function chromiumUnavailable(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env.CI) throw new Error(`${CHROMIUM_PATH} is missing; CI must install it (apt-get install -y --no-install-recommends chromium)`);
  return `${CHROMIUM_PATH} is missing (apt-get install -y --no-install-recommends chromium)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox'], timeout: 30_000 });
}
