/**
 * ITU-T E.164 country calling codes (1 to 3 digits). Source: ITU-T, "List of
 * ITU-T Recommendation E.164 assigned country codes" (Annex to ITU Operational
 * Bulletin, https://www.itu.int/pub/T-SP-E.164D), geographic and global
 * service codes as assigned; spare and reserved codes are left out.
 *
 * The codes form a prefix code (none is the start of another), so a number
 * has at most one. Used for a new deployment's default dialling policy
 * (src/platform/DeploymentRegistry.ts): its own numbers' country codes. "+1"
 * and "+7" are shared by several countries: src/wire/sharedCodeAreas.ts.
 */

/** Zones 1 and 7 are a single code each; the rest are listed by their digits after "+". */
const CODES = [
  '1', '7',
  // Zone 2: Africa, and a few Atlantic territories.
  '20', '211', '212', '213', '216', '218', '220', '221', '222', '223', '224', '225', '226', '227', '228', '229',
  '230', '231', '232', '233', '234', '235', '236', '237', '238', '239', '240', '241', '242', '243', '244', '245',
  '246', '247', '248', '249', '250', '251', '252', '253', '254', '255', '256', '257', '258', '260', '261', '262',
  '263', '264', '265', '266', '267', '268', '269', '27', '290', '291', '297', '298', '299',
  // Zones 3 and 4: Europe.
  '30', '31', '32', '33', '34', '350', '351', '352', '353', '354', '355', '356', '357', '358', '359', '36',
  '370', '371', '372', '373', '374', '375', '376', '377', '378', '379', '380', '381', '382', '383', '385', '386',
  '387', '389', '39', '40', '41', '420', '421', '423', '43', '44', '45', '46', '47', '48', '49',
  // Zone 5: South and Central America.
  '500', '501', '502', '503', '504', '505', '506', '507', '508', '509', '51', '52', '53', '54', '55', '56', '57',
  '58', '590', '591', '592', '593', '594', '595', '596', '597', '598', '599',
  // Zone 6: South Pacific and Oceania.
  '60', '61', '62', '63', '64', '65', '66', '670', '672', '673', '674', '675', '676', '677', '678', '679', '680',
  '681', '682', '683', '685', '686', '687', '688', '689', '690', '691', '692',
  // Zone 8: East Asia and global services (800 freephone, 870 Inmarsat, 881-883 networks).
  '800', '808', '81', '82', '84', '850', '852', '853', '855', '856', '86', '870', '878', '880', '881', '882', '883',
  '886', '888',
  // Zone 9: West, Central and South Asia, the Middle East (979: international premium rate).
  '90', '91', '92', '93', '94', '95', '960', '961', '962', '963', '964', '965', '966', '967', '968', '970', '971',
  '972', '973', '974', '975', '976', '977', '979', '98', '991', '992', '993', '994', '995', '996', '998',
] as const;

const BY_CODE: ReadonlySet<string> = new Set(CODES);

/** The country calling code of an E.164 number (`+441234567890` gives `+44`), or null when none is assigned. */
export function countryCallingCode(e164: string): string | null {
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) return null;
  for (const length of [1, 2, 3]) {
    const code = e164.slice(1, 1 + length);
    if (BY_CODE.has(code)) return `+${code}`;
  }
  return null;
}
