/**
 * Places that share a country calling code with a larger country, and so hide behind its
 * prefix: "+1" is the whole North American Numbering Plan (the US and its territories, Canada,
 * and 18 other countries and territories, Bermuda and the Caribbean, billed at international
 * rates), "+7" is Russia and Kazakhstan. A dialling policy's "+1" means the US and Canada, "+7"
 * Russia: a number here is allowed only by a prefix that names its area (`+1876`, `+77`), or `+`.
 *
 * NANP: the NPAs outside the 50 states, DC and Canada, from NANPA (https://www.nationalnanpa.com/,
 * "NPAs by location": the Caribbean, Bermuda and the US territories; "non-geographic NPAs"), the
 * personal-communications 5XX codes as libphonenumber's US metadata lists them
 * (https://github.com/google/libphonenumber, resources/PhoneNumberMetadata.xml, personalNumber).
 * US/CA toll-free (800, 833, 844, 855, 866, 877, 888) is not listed: a "+1" reaches it. The
 * premium-rate 900 is not listed either: the platform refuses it whatever the policy says
 * (DENIED_DESTINATION_PREFIXES in src/platform/allowlists.ts). Checked 2026-11; NANPA
 * announces a new Caribbean NPA years ahead (658 Jamaica, 2018): add it here.
 *
 * Zone 7: Kazakhstan is +7 6 and +7 7 (ITU-T E.164 list, https://www.itu.int/pub/T-SP-E.164D).
 */

export interface SharedCodeArea {
  /** What the refusal calls it: "Jamaica", "a personal-number code". */
  name: string;
  /** Why a shorter prefix does not reach it, for the refusal. */
  apart: string;
  /** Its prefixes, E.164 with "+": a number is in the area when it starts with one. */
  prefixes: readonly string[];
}

const NANP_COUNTRY = 'a separate country in the +1 plan';
const NANP_TERRITORY = 'a separate territory in the +1 plan';
// The provider permits and rates destinations by ISO country, and PR, VI, GU, MP and AS are
// their own (https://developers.telnyx.com/api-reference/outbound-voice-profiles/create-an-outbound-voice-profile,
// whitelisted_destinations "formatted in alpha2"): not domestic to a "+1" meant as the US and Canada.
const US_TERRITORY = 'a US territory the provider permits and rates apart from the US';
const NON_GEOGRAPHIC = 'not an area of the US or Canada';

function nanp(name: string, apart: string, npas: readonly number[]): SharedCodeArea {
  return { name, apart, prefixes: npas.map((npa) => `+1${npa}`) };
}

export const SHARED_CODE_AREAS: readonly SharedCodeArea[] = [
  // The Caribbean and Bermuda (NANPA: NPAs by location).
  nanp('Anguilla', NANP_TERRITORY, [264]),
  nanp('Antigua and Barbuda', NANP_COUNTRY, [268]),
  nanp('the Bahamas', NANP_COUNTRY, [242]),
  nanp('Barbados', NANP_COUNTRY, [246]),
  nanp('Bermuda', NANP_TERRITORY, [441]),
  nanp('the British Virgin Islands', NANP_TERRITORY, [284]),
  nanp('the Cayman Islands', NANP_TERRITORY, [345]),
  nanp('Dominica', NANP_COUNTRY, [767]),
  nanp('the Dominican Republic', NANP_COUNTRY, [809, 829, 849]),
  nanp('Grenada', NANP_COUNTRY, [473]),
  nanp('Jamaica', NANP_COUNTRY, [658, 876]),
  nanp('Montserrat', NANP_TERRITORY, [664]),
  nanp('Sint Maarten', NANP_COUNTRY, [721]),
  nanp('Saint Kitts and Nevis', NANP_COUNTRY, [869]),
  nanp('Saint Lucia', NANP_COUNTRY, [758]),
  nanp('Saint Vincent and the Grenadines', NANP_COUNTRY, [784]),
  nanp('Trinidad and Tobago', NANP_COUNTRY, [868]),
  nanp('the Turks and Caicos Islands', NANP_TERRITORY, [649]),
  // US territories (NANPA: NPAs by location).
  nanp('Puerto Rico', US_TERRITORY, [787, 939]),
  nanp('the US Virgin Islands', US_TERRITORY, [340]),
  nanp('Guam', US_TERRITORY, [671]),
  nanp('the Northern Mariana Islands', US_TERRITORY, [670]),
  nanp('American Samoa', US_TERRITORY, [684]),
  // Non-geographic NPAs other than toll-free and 900 (NANPA: non-geographic NPAs).
  nanp('an international inbound code', NON_GEOGRAPHIC, [456]),
  nanp('a personal-number code (it follows its owner anywhere)', NON_GEOGRAPHIC, [500, 521, 522, 523, 524, 525, 526, 527, 528, 529, 533, 544, 566, 577, 588]),
  nanp('a Canadian non-geographic services code', NON_GEOGRAPHIC, [600, 622]),
  nanp('a carrier-specific services code', NON_GEOGRAPHIC, [700]),
  nanp("the US government's special services code", NON_GEOGRAPHIC, [710]),
  // Zone 7 (ITU-T E.164): "+7" alone means Russia.
  { name: 'Kazakhstan', apart: 'a separate country in the +7 plan', prefixes: ['+76', '+77'] },
];

/** The area of an E.164 number and the prefix of it the number starts with, or null (most numbers). */
export function sharedCodeArea(e164: string): { area: SharedCodeArea; prefix: string } | null {
  for (const area of SHARED_CODE_AREAS) {
    const prefix = area.prefixes.find((p) => e164.startsWith(p));
    if (prefix !== undefined) return { area, prefix };
  }
  return null;
}
