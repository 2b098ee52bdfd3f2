/**
 * A dialling policy that does not reach the area of one of the deployment's own numbers.
 *
 * A shared country code's short prefix means only its main country (src/wire/sharedCodeAreas.ts):
 * a deployment stored earlier with a Jersey number and `+44`, or a Jamaican one and `+1`, is now
 * refused its own area, and nobody hears of it until a dial fails. The policy is kept as it is
 * (it refuses more than the operator meant, so it spends nothing: failing closed is the safe way
 * round); the operator is told which area and which prefixes to add: at the platform's start for
 * every stored deployment, and in the operator API's answer when one is created, updated or imported.
 *
 * Only a prefix that covers the area's numbers without naming it counts (`+44` for `+441534`):
 * a policy that never named the country (`["+1"]` for a UK number, `[]`) or names only part of
 * the area (`+441534`, Jersey's landlines, without its mobiles) is taken as the operator's intent.
 */
import { dialPrefixRefusal, ownCountryPrefixes } from '../wire/dialPrefixes.js';
import { sharedCodeArea } from '../wire/sharedCodeAreas.js';
import type { Logger } from '../log.js';
import type { Deployment } from './DeploymentRegistry.js';

export interface UnreachedArea {
  /** The first of the deployment's numbers in the area. */
  number: string;
  /** "Jersey", "Jamaica". */
  area: string;
  /** The area's prefixes that a shorter allowed prefix covers but does not reach. */
  add: string[];
}

/** The areas of the deployment's own numbers its policy does not reach (one entry per area). */
export function unreachedOwnAreas(deployment: Pick<Deployment, 'numbers' | 'dialPolicy'>): UnreachedArea[] {
  const allow = deployment.dialPolicy.allowPrefixes;
  const found = new Map<string, UnreachedArea>();
  for (const number of deployment.numbers) {
    const shared = sharedCodeArea(number);
    if (shared === null || found.has(shared.area.name)) continue;
    // An area prefix is itself a number's start: dialPrefixRefusal judges it as it would the number.
    const add = ownCountryPrefixes(number).filter((p) => allow.some((a) => p.startsWith(a)) && dialPrefixRefusal(allow, p) !== null);
    if (add.length > 0) found.set(shared.area.name, { number, area: shared.area.name, add });
  }
  return [...found.values()];
}

/** One sentence per area, for the log and the operator API's `warnings`. */
export function unreachedAreaWarnings(deploymentId: string, areas: readonly UnreachedArea[]): string[] {
  return areas.map(
    (a) =>
      `deployment ${deploymentId}: its dialling policy does not reach ${a.area}, the area of its number ${a.number} ` +
      `(a shared country code's short prefix means only the main country): add ${a.add.join(', ')} to dialPolicy.allowPrefixes to dial it`,
  );
}

/** Logs one warning for the deployment when its policy misses an area of its own; the sentences, or none. */
export function warnUnreachedAreas(log: Logger, deployment: Pick<Deployment, 'id' | 'numbers' | 'dialPolicy'>): string[] {
  const areas = unreachedOwnAreas(deployment);
  const warnings = unreachedAreaWarnings(deployment.id, areas);
  if (warnings.length > 0) {
    log.warn({ deployment: deployment.id, areas: areas.map((a) => a.area), add: areas.flatMap((a) => a.add) }, warnings.join('; '));
  }
  return warnings;
}
