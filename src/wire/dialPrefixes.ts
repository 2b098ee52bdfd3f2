/**
 * A deployment's dialling policy as a list of allowed E.164 prefixes, matched in one place
 * (the platform enforces it: src/platform/DeploymentRegistry.ts checkDialPolicy). A prefix
 * reaches the numbers that start with it, except that a country code shared with smaller
 * places (src/wire/sharedCodeAreas.ts) reaches only the larger country: "+1" is the US and
 * Canada, not Jamaica; "+1876" or "+" reaches Jamaica; "+44" is the UK, not Jersey ("+441534").
 * Fail closed: a stored "+1" that used to reach the Caribbean, or a "+44" Jersey, no longer does.
 */
import { countryCallingCode } from './countryCallingCodes.js';
import { sharedCodeArea } from './sharedCodeAreas.js';

/** Null when the policy allows `to` (E.164, already checked), else why not, for the refusal. */
export function dialPrefixRefusal(allowPrefixes: readonly string[], to: string): string | null {
  const matching = allowPrefixes.filter((prefix) => to.startsWith(prefix));
  if (matching.length === 0) return "outside the deployment's allowed prefixes";
  const shared = sharedCodeArea(to);
  if (shared === null) return null;
  // "+" is the operator's explicit "anywhere"; otherwise the prefix must name the area itself.
  if (matching.some((prefix) => prefix === '+' || prefix.length >= shared.prefix.length)) return null;
  return `${shared.prefix} is ${shared.area.name}, ${shared.area.apart}: add ${shared.prefix} to the dial policy to allow it`;
}

/**
 * The prefixes that stand for a number's own country: its area's when it is in one that shares
 * a code ("+1876" gives ["+1658", "+1876"], Jamaica), else its country calling code, else (a
 * spare code) its first three digits.
 */
export function ownCountryPrefixes(e164: string): readonly string[] {
  const shared = sharedCodeArea(e164);
  if (shared !== null) return shared.area.prefixes;
  return [countryCallingCode(e164) ?? e164.slice(0, 4)];
}
