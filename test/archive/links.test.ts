import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { signToken, verifyToken } from '../../src/archive/tokens.js';
import { runCli } from '../helpers/cli.js';
import { api, forwardOf, image, sendForward, startNode, subscribe, testRawConfig } from './helpers.js';

const SUBSCRIBER = '+15550001111';

/** The token of an album or confirmation URL. */
function tokenOf(url: string): string {
  return /\/(?:album|confirm)\/([^/]+)/.exec(url)![1]!;
}

/** Changes one character of the MAC: in the middle, or the last one (whose spare bits base64url decoding would ignore). */
function forge(token: string, where: 'middle' | 'last' = 'middle'): string {
  const at = where === 'last' ? token.length - 1 : token.length - 8;
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
}

t.test('tokens: sign and verify (pure)', async (t) => {
  const now = new Date('2026-11-25T00:00:00Z');
  const token = signToken('secret-one-long-enough', { purpose: 'album', subscriptionId: 'abc_DEF-123', version: 2, expiresAt: new Date('2026-12-01T00:00:00Z') });
  t.match(verifyToken('secret-one-long-enough', token, 'album', now), { ok: true, claims: { subscriptionId: 'abc_DEF-123', version: 2 } });
  t.same(verifyToken('another-secret-long-enough', token, 'album', now), { ok: false, reason: 'forged' });
  t.same(verifyToken('secret-one-long-enough', token, 'confirm', now), { ok: false, reason: 'forged' }, 'bound to its purpose');
  t.same(verifyToken('secret-one-long-enough', forge(token), 'album', now), { ok: false, reason: 'forged' });
  t.same(verifyToken('secret-one-long-enough', forge(token, 'last'), 'album', now), { ok: false, reason: 'forged' }, 'no second spelling of the MAC');
  t.same(verifyToken('secret-one-long-enough', token, 'album', new Date('2026-12-02T00:00:00Z')), { ok: false, reason: 'expired' });
  t.same(verifyToken('secret-one-long-enough', 'garbage', 'album', now), { ok: false, reason: 'forged' });
});

t.test('album links: forged → 404, expired and revoked → 403, none says why', async (t) => {
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const { base } = await startNode(t, { clock });
  const sub = await subscribe(base, SUBSCRIBER);
  const other = await subscribe(base, '+15550002222');
  const fwd = await sendForward(base, forwardOf({ subscriptionId: other.id, recipient: '+15550002222', originalMessageId: 'theirs' }));
  const theirs = fwd.headers.get('x-archive-id')!;
  const token = tokenOf(sub.albumUrl);

  const good = await fetch(`${base}/album/${token}`);
  t.equal(good.status, 200);
  t.match(await good.text(), /Archive of \+15550001111/);

  const invalidBody = async (res: Response, status: number, what: string): Promise<void> => {
    t.equal(res.status, status, what);
    const text = await res.text();
    t.match(text, /This link is not valid/, `${what}: the generic page`);
    t.notMatch(text, /15550001111|forged|expired|revoked/i, `${what}: no information`);
    t.notOk(text.includes(sub.id), `${what}: no subscription id`);
  };
  await invalidBody(await fetch(`${base}/album/${forge(token)}`), 404, 'forged MAC');
  await invalidBody(await fetch(`${base}/album/${forge(token, 'last')}`), 404, 'forged last character');
  await invalidBody(await fetch(`${base}/album/not-a-token`), 404, 'garbage');
  await invalidBody(await fetch(`${base}/album/${tokenOf(sub.confirmUrl)}`), 404, 'a confirmation token');
  const otherSecret = signToken('some-other-secret-entirely', { purpose: 'album', subscriptionId: sub.id, version: 0, expiresAt: new Date(Date.now() + 3_600_000) });
  await invalidBody(await fetch(`${base}/album/${otherSecret}`), 404, 'signed with another secret');
  await invalidBody(await fetch(`${base}/album/${token}/m/${theirs}`), 404, 'another subscription\'s message');
  await invalidBody(await fetch(`${base}/album/${token}/m/${theirs}/parts/0`), 404, 'another subscription\'s part');

  offset = 2 * 86_400_000; // albumTtl is 1d in the test config
  await invalidBody(await fetch(`${base}/album/${token}`), 403, 'expired');
  offset = 0;
  t.equal((await fetch(`${base}/album/${token}`)).status, 200, 'valid again at the real time');

  const revoked = await api(base, `/api/subscriptions/${sub.id}/revoke`, { method: 'POST' });
  t.equal(revoked.status, 200);
  const fresh = ((await revoked.json()) as { albumUrl: string }).albumUrl;
  await invalidBody(await fetch(`${base}/album/${token}`), 403, 'revoked');
  t.equal((await fetch(`${base}/album/${tokenOf(fresh)}`)).status, 200, 'the new link works');
});

t.test('confirmation: archived or not, a CDR per confirmation, CSV export', async (t) => {
  const { node, base, dir } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER, 'photos');
  const r = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'orig-42', subject: 'Look, a "quote"', parts: [{ contentType: 'image/png', data: await image('png') }] }));
  const archiveId = r.headers.get('x-archive-id')!;

  const byArchiveId = await fetch(`${sub.confirmUrl}/${archiveId}`);
  t.equal(byArchiveId.status, 200);
  t.match(await byArchiveId.text(), /Archived ✔/);
  const byOriginal = await fetch(`${sub.confirmUrl}/orig-42`);
  t.match(await byOriginal.text(), /Archived ✔/, 'the MMS-C message id works too');
  const notYet = await fetch(`${sub.confirmUrl}/orig-43`);
  t.equal(notYet.status, 200);
  t.match(await notYet.text(), /Not archived/);
  const forged = await fetch(`${base}/confirm/${forge(tokenOf(sub.confirmUrl))}/${archiveId}`);
  t.equal(forged.status, 404);
  t.equal((await fetch(`${base}/confirm/${tokenOf(sub.albumUrl)}/${archiveId}`)).status, 404, 'an album token does not confirm');

  const cdrs = node.db.cdrsSince(new Date(0));
  t.equal(cdrs.length, 2, 'one CDR per confirmation of an archived message; none for the rest');
  t.match(cdrs[0], { subscriptionId: sub.id, archiveId, event: 'confirm', amount: '0.05', currency: 'EUR' });

  const config = join(dir, 'archive.yaml');
  writeFileSync(config, JSON.stringify(testRawConfig(dir)));
  const today = new Date().toISOString().slice(0, 10);
  const out = await runCli(['archive', 'cdr', '--since', today, '--config', config]);
  t.equal(out.code, 0, out.err);
  const lines = out.out.split('\r\n');
  t.equal(lines[0], 'id,time,subscription,message,event,amount,currency');
  t.equal(lines.length, 4, 'header, two rows, the final line end');
  t.equal(lines[1], `${cdrs[0]!.id},${cdrs[0]!.at.toISOString()},${sub.id},${archiveId},confirm,0.05,EUR`);
  const future = await runCli(['archive', 'cdr', '--since', '2999-01-01', '--config', config]);
  t.equal(future.out, 'id,time,subscription,message,event,amount,currency\r\n', 'nothing since a later date');
  const bad = await runCli(['archive', 'cdr', '--since', 'yesterday', '--config', config]);
  t.equal(bad.code, 1);
  t.match(bad.err, /--since/);
});
