/**
 * MM7 status codes (3GPP TS 23.140 §8.7.4, spec digest §a.8). The first
 * digit is the class: 1 success, 2 client error, 3 server error, 4 service
 * error; an unknown code is read by its class.
 */
export const MM7_STATUS: Readonly<Record<number, string>> = {
  1000: 'Success',
  1100: 'Partial success',
  2000: 'Client error',
  2001: 'Operation restricted',
  2002: 'Address Error',
  2003: 'Address Not Found',
  2004: 'Multimedia content refused',
  2005: 'Message ID Not found',
  2006: 'LinkedID not found',
  2007: 'Message format corrupt',
  2008: 'Application ID not found',
  2009: 'Reply Application ID not found',
  3000: 'Server Error',
  3001: 'Not Possible',
  3002: 'Message rejected',
  3003: 'Multiple addresses not supported',
  3004: 'Application Addressing not supported',
  4000: 'General service error',
  4001: 'Improper identification',
  4002: 'Unsupported version',
  4003: 'Unsupported operation',
  4004: 'Validation error',
  4005: 'Service error',
  4006: 'Service unavailable',
  4007: 'Service denied',
  4008: 'Application denied',
};

export type StatusClass = 'success' | 'client-error' | 'server-error' | 'service-error' | 'unknown';

export function statusClassOf(code: number): StatusClass {
  switch (Math.floor(code / 1000)) {
    case 1:
      return 'success';
    case 2:
      return 'client-error';
    case 3:
      return 'server-error';
    case 4:
      return 'service-error';
    default:
      return 'unknown';
  }
}

/** The standard text of a code, or the text of its class for a vendor code. */
export function statusText(code: number): string {
  return MM7_STATUS[code] ?? MM7_STATUS[Math.floor(code / 1000) * 1000] ?? 'Unknown status';
}

export function isSuccess(code: number): boolean {
  return code === 1000 || code === 1100;
}
