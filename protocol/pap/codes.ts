/**
 * PAP result codes (WAP-247-PAP, spec digest §e). Four digits; the first
 * is the class: 1 success, 2 push initiator (client) error, 3 PPG (server)
 * error, 4 service failure, 5 the mobile client aborted (5000 + a WSP/WTP
 * abort reason). An unknown code is read by its class.
 */
export const PAP_CODES: Readonly<Record<number, string>> = {
  1000: 'OK',
  1001: 'Accepted for processing',
  2000: 'Bad request',
  2001: 'Forbidden',
  2002: 'Address error',
  2003: 'Address not found',
  2004: 'Push ID not found',
  2005: 'Capabilities mismatch',
  2006: 'Required capabilities not supported',
  2007: 'Duplicate push ID',
  2008: 'Cancellation not possible',
  3000: 'Internal server error',
  3001: 'Not implemented',
  3002: 'Version not supported',
  3003: 'Not possible',
  3004: 'Capability matching not supported',
  3005: 'Multiple addresses not supported',
  3006: 'Transformation failure',
  3007: 'Specified delivery method not possible',
  3008: 'Capabilities not available',
  3009: 'Required network not available',
  3010: 'Required bearer not available',
  3011: 'Replacement not supported',
  4000: 'Service failure',
  4001: 'Service unavailable',
};

export type PapCodeClass = 'success' | 'client-error' | 'server-error' | 'service-failure' | 'client-aborted';

export function papCodeClass(code: number): PapCodeClass | undefined {
  switch (Math.floor(code / 1000)) {
    case 1:
      return 'success';
    case 2:
      return 'client-error';
    case 3:
      return 'server-error';
    case 4:
      return 'service-failure';
    case 5:
      return 'client-aborted';
    default:
      return undefined;
  }
}

/** The standard meaning of a code, or of its class for a vendor code. */
export function papCodeText(code: number): string {
  const known = PAP_CODES[code];
  if (known !== undefined) return known;
  if (Math.floor(code / 1000) === 5) return 'Mobile client aborted';
  return PAP_CODES[Math.floor(code / 1000) * 1000] ?? 'Unknown result';
}

/**
 * Server errors that say the PPG cannot do what was asked, whatever the
 * moment: sending the same push again cannot succeed, so it is not retried.
 * The other 3xxx codes (internal error, network or bearer not available
 * now) and the 4xxx service failures are transient.
 */
const PERMANENT_SERVER_ERRORS: ReadonlySet<number> = new Set([3001, 3002, 3004, 3005, 3006, 3011]);

/**
 * What a push initiator does with a result code: `accepted` (1xxx),
 * `retry` (the PPG may take it later), `fail` (the push is wrong for good,
 * or the terminal aborted it).
 */
export function papCodeAction(code: number): 'accepted' | 'retry' | 'fail' {
  switch (papCodeClass(code)) {
    case 'success':
      return 'accepted';
    case 'server-error':
      return PERMANENT_SERVER_ERRORS.has(code) ? 'fail' : 'retry';
    case 'service-failure':
      return 'retry';
    default:
      return 'fail';
  }
}
