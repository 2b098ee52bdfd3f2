/**
 * Places that share a country calling code with a larger country, and so hide behind its
 * prefix: "+1" is the whole North American Numbering Plan (the US and its territories, Canada,
 * and 18 other countries and territories, Bermuda and the Caribbean, billed at international
 * rates), "+7" is Russia and Kazakhstan, "+44" the UK and the three Crown Dependencies, and so
 * on below. A dialling policy's short prefix means the code's main country ("+1" the US and
 * Canada, "+7" Russia, "+44" the UK): a number here is allowed only by a prefix that names its
 * area (`+1876`, `+77`, `+441534`), or `+`.
 *
 * The test for "apart": the provider permits destinations by ISO country (Telnyx outbound voice
 * profiles, whitelisted_destinations in alpha-2) and rates them by number prefix ("Calls are
 * rated based on destination number prefix",
 * https://developers.telnyx.com/docs/voice/sip-trunking/configuration/outbound-voice-profiles),
 * so a place with its own ISO code (or its own rate prefix) is not the main country's.
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
 *
 * The other shared codes, checked 2026-11 against libphonenumber's metadata (the territory's
 * leadingDigits, or its fixedLine/mobile nationalNumberPattern where it has none, and the main
 * country's pattern leaving the range out); "libphonenumber XX" below means that territory's
 * entry in resources/PhoneNumberMetadata.xml. Only ranges a territory has to itself are listed:
 * the mobiles of Åland, Svalbard, the Vatican, Christmas Island, Cocos and Western Sahara are in
 * the main country's mobile ranges, so "+358" etc. still reach those mobiles.
 *
 * Considered and left out:
 * - +590 Saint Barthélemy (BL) and Saint Martin (MF) vs Guadeloupe (GP): libphonenumber BL and
 *   MF list overlapping fixed ranges (590 27, 29, 51, 52, 87 are in both) and all three share
 *   the 690/691 mobiles, so no prefix names one of them.
 * - +672 Antarctica (AQ, Australian bases) vs Norfolk Island (NF): libphonenumber has no AQ
 *   entry, and NF's own numbers use +672 1 as well as +672 3, so no source gives a range.
 * - +7 336 22 (Baikonur): libphonenumber KZ lists it, but it is a Russian-plan code of a city
 *   Russia administers; the sources disagree, so it stays with "+7".
 * - The Crown Dependencies' non-geographic numbers (+44 800 735, +44 3..., +44 84/87 ...)
 *   and pagers: UK service ranges with a few blocks hosted on the islands; +44 9 is under the
 *   premium-rate floor anyway.
 * - The small 1,000-number blocks libphonenumber CX and CC list under +61 8 51 and +61 8 910-917:
 *   versions of the metadata disagree on them and on AU's; the islands' area ranges are listed.
 */

export interface SharedCodeArea {
  /** What the refusal calls it: "Jamaica", "a personal-number code". */
  name: string;
  /** Why a shorter prefix does not reach it, for the refusal. */
  apart: string;
  /** Its prefixes, E.164 with "+": a number is in the area when it starts with one. */
  prefixes: readonly string[];
}

/** "a separate country in the +1 plan". */
function separate(kind: 'country' | 'territory', code: string): string {
  return `a separate ${kind} in the ${code} plan`;
}

const NANP_COUNTRY = separate('country', '+1');
const NANP_TERRITORY = separate('territory', '+1');
// The provider permits and rates destinations by ISO country, and PR, VI, GU, MP and AS are
// their own (https://developers.telnyx.com/api-reference/outbound-voice-profiles/create-an-outbound-voice-profile,
// whitelisted_destinations "formatted in alpha2"): not domestic to a "+1" meant as the US and Canada.
const US_TERRITORY = 'a US territory the provider permits and rates apart from the US';
const NON_GEOGRAPHIC = 'not an area of the US or Canada';
const CROWN_DEPENDENCY = 'a Crown Dependency in the +44 plan, not the UK';

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
  { name: 'Kazakhstan', apart: separate('country', '+7'), prefixes: ['+76', '+77'] },
  // Abkhazia: Russia assigned it ABC 840 (fixed) and DEF 940 (mobile) in 2009 (Interfax,
  // https://interfax.com/newsroom/top-stories/66660/). No ISO code, but rated by its own prefix.
  { name: 'Abkhazia', apart: 'numbered in the +7 plan but rated apart from Russia', prefixes: ['+7840', '+7940'] },
  // The Crown Dependencies: the islands' area codes (libphonenumber JE, GG, IM fixedLine) and
  // the mobile blocks Ofcom gave their operators (their mobile patterns; GB's leaves them out,
  // but for 7924, which its broad 79 range also covers: listed as the Isle of Man's, fail closed).
  { name: 'Jersey', apart: CROWN_DEPENDENCY, prefixes: ['+441534', '+447509', '+4477003', '+4477007', '+4477008', '+447797', '+447829', '+447937'] },
  { name: 'Guernsey', apart: CROWN_DEPENDENCY, prefixes: ['+441481', '+447781', '+447839', '+4479111', '+4479117'] },
  { name: 'the Isle of Man', apart: CROWN_DEPENDENCY, prefixes: ['+441624', '+4474576', '+447524', '+447624', '+447924'] },
  // libphonenumber VA: leadingDigits 06698 (the Vatican's exchange inside Rome's 06).
  { name: 'Vatican City', apart: separate('country', '+39'), prefixes: ['+3906698'] },
  // libphonenumber SJ: leadingDigits 79 (NO's fixed lines are 7[0-8]).
  { name: 'Svalbard and Jan Mayen', apart: separate('territory', '+47'), prefixes: ['+4779'] },
  // libphonenumber CX and CC fixedLine: 8 9164 and 8 9162 (AU's pattern leaves 8 916[24] out).
  { name: 'Christmas Island', apart: separate('territory', '+61'), prefixes: ['+6189164'] },
  { name: 'the Cocos (Keeling) Islands', apart: separate('territory', '+61'), prefixes: ['+6189162'] },
  // libphonenumber AX: leadingDigits 18 (Åland's area code 018).
  { name: 'Åland', apart: separate('territory', '+358'), prefixes: ['+35818'] },
  // libphonenumber YT (+262's main country is Réunion, RE): fixedLine 269, mobile 639, voip
  // 939 8[01], 947 8[01] and 9769 (RE's are 939 9, 947 9, 976 2-3).
  { name: 'Mayotte', apart: separate('territory', '+262'), prefixes: ['+262269', '+262639', '+26293980', '+26293981', '+26294780', '+26294781', '+2629769'] },
  // libphonenumber BQ: leadingDigits [347] (+599's main country is Curaçao, CW: [69]).
  { name: 'the Caribbean Netherlands (Bonaire, Sint Eustatius, Saba)', apart: separate('territory', '+599'), prefixes: ['+5993', '+5994', '+5997'] },
  // libphonenumber EH: leadingDigits 528[89] (+212's main country is Morocco).
  { name: 'Western Sahara', apart: separate('territory', '+212'), prefixes: ['+2125288', '+2125289'] },
  // libphonenumber TA: leadingDigits 8 (+290's main country is Saint Helena, SH: [256]).
  { name: 'Tristan da Cunha', apart: separate('territory', '+290'), prefixes: ['+2908'] },
];

/** The area of an E.164 number and the prefix of it the number starts with, or null (most numbers). */
export function sharedCodeArea(e164: string): { area: SharedCodeArea; prefix: string } | null {
  for (const area of SHARED_CODE_AREAS) {
    const prefix = area.prefixes.find((p) => e164.startsWith(p));
    if (prefix !== undefined) return { area, prefix };
  }
  return null;
}
