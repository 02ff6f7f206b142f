/**
 * The dynamic links of a subscription: the album (/album/<token>) and the
 * confirmation (/confirm/<token>/<message>). A token is
 *
 *   base64url("<purpose>.<subscription id>.<expiry, unix seconds>.<version>") "." base64url(HMAC-SHA256(secret, that)[0..16])
 *
 * — unguessable (128-bit MAC), bound to one purpose (an album token does not
 * confirm), expiring, and revocable: the subscription's token_version in DB2
 * is bumped to revoke every link issued before. Server 1 may mint links with
 * the same secret (enrichment adds the album link to an M-Retrieve.conf).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenPurpose = 'album' | 'confirm';

export interface TokenClaims {
  purpose: TokenPurpose;
  subscriptionId: string;
  expiresAt: Date;
  version: number;
}

const MAC_OCTETS = 16;

function mac(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_OCTETS);
}

export function signToken(secret: string, claims: TokenClaims): string {
  const payload = `${claims.purpose}.${claims.subscriptionId}.${Math.floor(claims.expiresAt.getTime() / 1000)}.${claims.version}`;
  return `${Buffer.from(payload, 'utf8').toString('base64url')}.${mac(secret, payload).toString('base64url')}`;
}

/**
 * The claims of a token that this secret signed for `purpose`, or why not.
 * The caller still checks the version against the subscription (revocation).
 */
export function verifyToken(secret: string, token: string, purpose: TokenPurpose, now: Date): { ok: true; claims: TokenClaims } | { ok: false; reason: 'forged' | 'expired' } {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 512 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return { ok: false, reason: 'forged' };
  const payload = Buffer.from(token.slice(0, dot), 'base64url').toString('utf8');
  // Compared as canonical text: base64url decoding ignores the spare bits of
  // the last character, so several spellings would otherwise pass.
  if (Buffer.from(payload, 'utf8').toString('base64url') !== token.slice(0, dot)) return { ok: false, reason: 'forged' };
  const given = Buffer.from(token.slice(dot + 1), 'latin1');
  const expected = Buffer.from(mac(secret, payload).toString('base64url'), 'latin1');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'forged' };
  const m = /^(album|confirm)\.([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.(\d{1,9})$/.exec(payload);
  if (!m || m[1] !== purpose) return { ok: false, reason: 'forged' };
  const expiresAt = new Date(Number(m[3]) * 1000);
  if (expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { purpose, subscriptionId: m[2]!, expiresAt, version: Number(m[4]) } };
}
