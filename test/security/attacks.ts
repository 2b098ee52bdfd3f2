/**
 * The attack registry of the adversarial suite (issue 4). Every attack is a
 * real node:test case that fails when the gateway did what the attacker
 * wanted; each outcome is also appended, as one JSON line `{name, accepted}`,
 * to the file named by TTMA_SECURITY_LOG, so scripts/securitySuite.ts can
 * print `security: N attacks, M accepted`.
 *
 * This file declares no test itself: node --test runs it as a test file
 * (everything under dist/test is), and then it does nothing.
 */
import { AssertionError } from 'node:assert';
import { appendFileSync } from 'node:fs';
import { test } from 'node:test';

export interface AttackRecord {
  name: string;
  accepted: boolean;
}

/** Outcomes of this process, in order (also kept when TTMA_SECURITY_LOG is unset). */
export const recordedAttacks: AttackRecord[] = [];

/** Append one attack outcome to the registry. */
export function recordAttack(name: string, accepted: boolean): void {
  recordedAttacks.push({ name, accepted });
  const file = process.env.TTMA_SECURITY_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ name, accepted })}\n`);
}

/**
 * What an attack body reports. `goal(achieved, what)` states whether the
 * attacker got what they wanted (a call started, a socket opened, a forged
 * event acted on...): achieved marks the attack accepted and fails the test.
 * Precision checks (the exact status or close code, no side effect) are plain
 * asserts after the goal: they fail the test without counting as accepted.
 */
export class AttackProbe {
  readonly name: string;
  readonly #note: (message: string) => void;
  #verdicts = 0;
  #accepted = false;

  constructor(name: string, note: (message: string) => void = () => {}) {
    this.name = name;
    this.#note = note;
  }

  /** A line in the test report (counts, never a token or a secret). */
  note(message: string): void {
    this.#note(message);
  }

  get accepted(): boolean {
    return this.#accepted;
  }

  get verdicts(): number {
    return this.#verdicts;
  }

  goal(achieved: boolean, what: string): void {
    this.#verdicts++;
    if (achieved) {
      this.#accepted = true;
      throw new AssertionError({ message: `attack accepted (${this.name}): ${what}` });
    }
  }
}

/** An attack body gets this long before it counts as unverified (and so accepted). */
const DEFAULT_ATTACK_TIMEOUT_MS = 15_000;

/**
 * Declare one attack as a node:test case. An attack that throws before any
 * verdict, or runs out of time, is recorded as accepted: unverified is not safe.
 */
export function attack(name: string, body: (probe: AttackProbe) => Promise<void> | void, timeoutMs = DEFAULT_ATTACK_TIMEOUT_MS): void {
  test(`attack: ${name}`, async (t) => {
    const probe = new AttackProbe(name, (message) => t.diagnostic(message));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`attack "${name}" gave no verdict within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(() => body(probe)), deadline]);
    } catch (err) {
      recordAttack(name, probe.accepted || probe.verdicts === 0);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (probe.verdicts === 0) {
      recordAttack(name, true);
      throw new AssertionError({ message: `attack "${name}" made no verdict: a check that cannot fail` });
    }
    recordAttack(name, probe.accepted);
  });
}
