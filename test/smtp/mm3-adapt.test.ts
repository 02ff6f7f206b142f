import sharp from 'sharp';
import t from 'tap';
import { decodeMms, encodeMms } from '../../protocol/mms/codec.js';
import type { MmsPdu } from '../../protocol/mms/model.js';
import { photoJpeg } from '../transcode/media.js';
import { startLab, startSink } from './lab.js';

// MM3 out with smtp.outbound.adaptProfile: the mail carries the content
// adapted to that profile (here the 160x120 feature phone), while DB1 keeps
// the original for the other recipients.

t.test('MM3 mail adapted to smtp.outbound.adaptProfile; the stored original is untouched', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.stop());
  const lab = await startLab({ routing: { mm3: true }, smtp: { outbound: { smarthost: `127.0.0.1:${sink.port}`, from: 'bounces@mms.local', adaptProfile: 'feature-phone' } } });
  t.teardown(() => lab.stop());
  const photo = await photoJpeg(1600, 1200);
  const pdu = {
    messageType: 'm-send-req',
    transactionId: 'mm3-adapt-1',
    mmsVersion: '1.2',
    from: 'insert-address',
    to: [{ text: 'erin@example.org' }],
    subject: { text: 'Big photo' },
    contentType: { mediaType: 'application/vnd.wap.multipart.mixed', params: [] },
    body: [{ contentType: { mediaType: 'image/jpeg', params: [] }, headers: [{ name: 'Content-Location', value: 'big.jpg' }], data: photo }],
  } as MmsPdu;
  const res = await fetch(`${lab.mm1Url}/`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.wap.mms-message', 'X-MSISDN': '+15550001111' }, body: encodeMms(pdu) });
  const conf = decodeMms(Buffer.from(await res.arrayBuffer()));
  if (conf.messageType !== 'm-send-conf' || conf.responseStatus !== 'Ok') throw new Error(`M-Send.conf ${JSON.stringify(conf)}`);
  for (let i = 0; i < 2000 && sink.received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const mail = sink.received[0];
  t.ok(mail, 'the mail arrived');
  const image = mail!.mail.attachments.find((a) => a.contentType.startsWith('image/'));
  t.ok(image, 'with an image');
  const meta = await sharp(image!.content).metadata();
  t.ok((meta.width ?? 9999) <= 160 && (meta.height ?? 9999) <= 120, `fitted to 160x120 (got ${meta.width}x${meta.height})`);
  t.ok(image!.content.length < photo.length, 'smaller than the original');
  t.same(lab.db.getParts(String(conf.messageId))[0]?.data, photo, 'DB1 keeps the original');
});
