import t from 'tap';
import { buildMm7Soap } from '../../protocol/mm7/soap.js';
import { encodeMm7Http } from '../../protocol/mm7/http.js';
import { archiveForwardEnvelope, encodeArchiveForward, signBody } from '../../src/archive/forward.js';
import { ENRICHMENT_CONTENT_ID } from '../../src/mmsc/enrich.js';
import { api, basicHeader, forwardOf, HMAC, image, postMm7, RELEASES_UNDER_TEST, sendForward, startNode, subscribe, TEXT_PART } from './helpers.js';

const SUBSCRIBER = '+15550001111';

t.test('the same forward twice: one record, 1000 both times with the same archive id', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const f = forwardOf({ subscriptionId: sub.id, originalMessageId: 'mmsc-0001' });
  const first = await sendForward(base, f);
  t.equal(first.status, 200);
  t.equal(first.envelope?.message.type, 'DeliverRsp');
  t.equal(first.envelope?.message.status?.code, 1000);
  t.equal(first.envelope?.transactionId, f.transactionId, 'TransactionID echoed');
  const id = first.headers.get('x-archive-id');
  t.ok(id, 'an archive id');
  t.match(first.envelope?.message.status?.details, new RegExp(`^archive-id=${id}; album=http://127\\.0\\.0\\.1:\\d+/album/\\S+$`), 'the archive id and the subscriber album');
  const again = await sendForward(base, f, HMAC);
  t.equal(again.envelope?.message.status?.code, 1000);
  t.equal(again.headers.get('x-archive-id'), id, 'same archive id');
  t.equal(node.db.countMessages(), 1, 'stored once');
  t.equal(node.receiver.stats.duplicates, 1);
  const list = (await (await api(base, `/api/messages?address=${SUBSCRIBER}`)).json()) as { messages: unknown[] };
  t.equal(list.messages.length, 1);
});

t.test('the same forward several times at once (one group commit): one record, one archive id', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const f = forwardOf({ subscriptionId: sub.id, originalMessageId: 'mmsc-burst' });
  const replies = await Promise.all(Array.from({ length: 6 }, () => sendForward(base, f)));
  t.same(
    replies.map((r) => r.envelope?.message.status?.code),
    [1000, 1000, 1000, 1000, 1000, 1000],
  );
  t.equal(new Set(replies.map((r) => r.headers.get('x-archive-id'))).size, 1, 'one archive id for all');
  t.equal(node.db.countMessages(), 1);
});

t.test('wrong credentials or signature: 401 and nothing stored', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const f = forwardOf({ subscriptionId: sub.id, originalMessageId: 'mmsc-0002' });
  const { body, headers } = await encodeArchiveForward(f);
  const type = headers['Content-Type']!;

  const cases: Array<[string, Record<string, string>, Buffer]> = [
    ['no credentials', { 'Content-Type': type }, body],
    ['wrong password', { 'Content-Type': type, Authorization: basicHeader('server1', 'wrong') }, body],
    ['wrong user', { 'Content-Type': type, Authorization: basicHeader('someone', 's3cret') }, body],
    ['signed with another secret', { 'Content-Type': type, 'X-Archive-Signature': signBody('not-the-shared-secret', body) }, body],
    ['signature of another body', { 'Content-Type': type, 'X-Archive-Signature': signBody('an-hmac-secret-of-server-one', Buffer.from('x')) }, body],
    ['body changed after signing', { 'Content-Type': type, 'X-Archive-Signature': signBody('an-hmac-secret-of-server-one', body) }, Buffer.concat([body.subarray(0, -3), Buffer.from('xx\n')])],
    ['signature not hex', { 'Content-Type': type, 'X-Archive-Signature': 'sha256=zz' }, body],
  ];
  for (const [what, h, b] of cases) {
    const r = await postMm7(base, b, h);
    t.equal(r.status, 401, what);
  }
  t.equal(node.db.countMessages(), 0, 'nothing stored');
  t.equal(node.receiver.stats.unauthorized, cases.length);
  const ok = await sendForward(base, f, HMAC);
  t.equal(ok.envelope?.message.status?.code, 1000, 'the right signature is accepted');
  t.equal(node.db.countMessages(), 1);
});

t.test('malformed DeliverReqs get MM7 errors and the server keeps serving', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const auth = { Authorization: basicHeader('server1', 's3cret') };

  const garbage = await postMm7(base, '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><oops', { ...auth, 'Content-Type': 'text/xml' });
  t.equal(garbage.status, 500, 'a SOAP Fault');
  t.equal(garbage.envelope?.message.type, 'RSErrorRsp');
  t.ok([2007, 4004].includes(garbage.envelope?.message.status?.code ?? 0), 'status 2007 or 4004');

  const badMime = await postMm7(base, '--b\r\nContent-Type: text/plain\r\n\r\nno soap here\r\n--b--\r\n', { ...auth, 'Content-Type': 'multipart/related; boundary="b"' });
  t.equal(badMime.status, 500);
  t.equal(badMime.envelope?.message.status?.code, 2007);

  // A DeliverReq without LinkedID: no idempotency key, refused in its own Rsp.
  const { envelope, content } = archiveForwardEnvelope(forwardOf({ subscriptionId: sub.id }));
  delete envelope.message.linkedId;
  const noLinked = await encodeMm7Http(envelope, content);
  const r = await postMm7(base, noLinked.body, { ...auth, 'Content-Type': noLinked.contentType });
  t.equal(r.envelope?.message.type, 'DeliverRsp');
  t.equal(r.envelope?.message.status?.code, 4004);

  const submit = buildMm7Soap({ release: 'REL-6-MM7-1-4', transactionId: 's1', message: { type: 'CancelReq', mm7Version: '6.8.0', senderIdentification: { vaspId: 'x' }, messageId: 'm' } });
  const notDeliver = await postMm7(base, submit, { ...auth, 'Content-Type': 'text/xml' });
  t.equal(notDeliver.status, 500);
  t.equal(notDeliver.envelope?.message.type, 'RSErrorRsp');

  t.equal(node.db.countMessages(), 0, 'nothing stored');
  const ok = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'after-garbage' }));
  t.equal(ok.envelope?.message.status?.code, 1000, 'still serving');
});

t.test('every release: REL-5 carries the subscription in the archive-info part, REL-6 in AuxApplicInfo', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  for (const release of RELEASES_UNDER_TEST) {
    const r = await sendForward(base, forwardOf({ release, subscriptionId: sub.id, originalMessageId: `m-${release}`, transactionId: `t-${release}` }));
    t.equal(r.envelope?.message.status?.code, 1000, release);
    t.equal(r.envelope?.release, release, `answered in ${release}`);
    const m = node.db.getMessage(r.headers.get('x-archive-id')!);
    t.equal(m?.subscriptionId, sub.id, `${release}: subscription`);
    t.same(m?.parts.map((p) => p.contentType), [TEXT_PART.contentType], `${release}: the info part is not archived`);
  }
  // REL-5 and no subscription named: the recipient's live one.
  const bare = await sendForward(base, forwardOf({ release: 'REL-5-MM7-1-3', originalMessageId: 'm-bare' }));
  t.equal(bare.envelope?.message.status?.code, 1000);
  t.equal(node.db.getMessage(bare.headers.get('x-archive-id')!)?.subscriptionId, sub.id);
});

t.test('a message that already carries an archive notice keeps it apart from the forward\'s record part', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  // A subscriber sends on a message they retrieved: it carries server 1's notice part.
  const notice = { contentType: 'text/plain; charset=utf-8', contentId: ENRICHMENT_CONTENT_ID, data: Buffer.from('Kept in your archive.') };
  const f = forwardOf({ subscriptionId: sub.id, originalMessageId: 'm-notice', parts: [TEXT_PART, notice], additional: { notice: 'archived' } });
  const ids = (archiveForwardEnvelope(f).content.parts ?? []).map((p) => p.contentId);
  t.equal(new Set(ids).size, ids.length, `Content-IDs unique: ${ids.join(', ')}`);
  const r = await sendForward(base, f);
  t.equal(r.envelope?.message.status?.code, 1000);
  const m = node.db.getMessage(r.headers.get('x-archive-id')!);
  t.same(m?.parts.map((p) => p.contentId), [TEXT_PART.contentId, ENRICHMENT_CONTENT_ID], 'both message parts archived, the notice included');
  t.equal(m?.additional.notice, 'archived', 'and the record part read as such');
});

t.test('subscription, recipient and service checks', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER);
  const other = await subscribe(base, '+15550002222');
  const unknown = await sendForward(base, forwardOf({ subscriptionId: 'AAAAAAAAAAAAAAAAAAAAAA', originalMessageId: 'x1' }));
  t.equal(unknown.envelope?.message.status?.code, 2003);
  const notHis = await sendForward(base, forwardOf({ subscriptionId: other.id, originalMessageId: 'x2' }));
  t.equal(notHis.envelope?.message.status?.code, 2003, 'another address\'s subscription');
  const nobody = await sendForward(base, forwardOf({ recipient: '+15550003333', originalMessageId: 'x3' }));
  t.equal(nobody.envelope?.message.status?.code, 2003, 'no subscription at all');
  const service = await sendForward(base, forwardOf({ subscriptionId: sub.id, service: 'another-service', originalMessageId: 'x4' }));
  t.equal(service.envelope?.message.status?.code, 2008);
  t.equal(node.db.countMessages(), 0);
});

t.test('extraction on server 2 by the plan, or recorded as done on server 1; additional data kept', async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, SUBSCRIBER, 'photos');
  const png = await image('png');
  const jpeg = await image('jpeg');
  const parts = [
    { contentType: 'application/smil', contentId: 'smil', data: Buffer.from('<smil><body/></smil>') },
    { contentType: 'image/png', contentId: 'a', contentLocation: 'a.png', data: png },
    TEXT_PART,
    { contentType: 'image/jpeg', contentId: 'b', data: jpeg },
    { contentType: 'image/png', contentId: 'c', data: png },
  ];
  const additional = { archiveLink: 'http://127.0.0.1/album/x', notice: 'Archived on server 2', geolocation: { lat: 48.8584, lon: 2.2945, source: 'exif' } };
  const r = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'ext-2', parts, contentType: 'multipart/related; start="<smil>"; type="application/smil"', additional }));
  t.equal(r.envelope?.message.status?.code, 1000);
  const m = node.db.getMessage(r.headers.get('x-archive-id')!)!;
  t.equal(m.extractedOn, 'server2');
  t.same(m.parts.map((p) => p.contentId ?? null), ['a', 'text1', 'b'], 'first 2 images and the text');
  t.same(m.dropped.map((d) => d.contentId), ['smil', 'c']);
  t.same(m.additional, additional);
  t.ok(node.db.getPart(m.archiveId, 0)!.data.equals(png), 'image bytes unchanged');

  const s1 = await sendForward(
    base,
    forwardOf({
      subscriptionId: sub.id,
      originalMessageId: 'ext-1',
      parts: [parts[1]!, TEXT_PART, parts[3]!, parts[4]!],
      extracted: { dropped: [{ contentType: 'video/mp4', contentId: 'v', reason: 'content type video/mp4 is not kept by the plan' }], trimmed: [] },
    }),
  );
  const m1 = node.db.getMessage(s1.headers.get('x-archive-id')!)!;
  t.equal(m1.extractedOn, 'server1');
  t.equal(m1.parts.length, 4, 'server 2 does not extract again');
  t.same(m1.dropped, [{ contentType: 'video/mp4', contentId: 'v', reason: 'content type video/mp4 is not kept by the plan' }]);
  t.same(Object.keys(m1.additional), ['archiveLink'], 'no additional data from server 1: only the album link server 2 adds');
  t.match(m1.additional.archiveLink, /\/album\//);
});
