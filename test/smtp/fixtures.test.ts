import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { createTransport } from 'nodemailer';
import t from 'tap';
import { contentFromMail, generateSmil } from '../../src/frontends/smtp/convert.js';
import { checkMimeStructure, MalformedMail } from '../../src/frontends/smtp/mime-check.js';
import type { StoredMessage, StoredPart } from '../../src/mmsc/model.js';
import { startLab, type Lab } from './lab.js';

// The .eml fixtures of fixtures/smtp (several mail clients' styles), each
// sent over SMTP to a local subscriber and read back from DB1: the text in
// UTF-8 whatever the mail's charset and transfer encoding, the subject
// decoded, attachments byte-for-byte, inline images with their Content-ID,
// a SMIL made when the mail has none and kept when it has one.

const DIR = join(import.meta.dirname, '../../fixtures/smtp');
const fixture = (name: string): Buffer => readFileSync(join(DIR, name));
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), Buffer.from('JFIF\0', 'latin1'), ...Array.from({ length: 4 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i))), Buffer.from([0xff, 0xd9])]);

let lab: Lab;
t.before(async () => {
  lab = await startLab();
});
t.teardown(() => lab.stop());

async function deliver(name: string, to = '+15550002222/TYPE=PLMN@mms.local'): Promise<{ message: StoredMessage; parts: StoredPart[] }> {
  const transport = createTransport({ host: '127.0.0.1', port: lab.smtpPort, secure: false, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ envelope: { from: 'sender@example.org', to: [to] }, raw: fixture(name) });
    const messageId = /accepted as (\S+)/.exec(String(info.response))?.[1];
    if (!messageId) throw new Error(`no message id in ${String(info.response)}`);
    return { message: lab.db.getMessage(messageId)!, parts: lab.db.getParts(messageId) };
  } finally {
    transport.close();
  }
}

const text = (p: StoredPart | undefined): string => p?.data.toString('utf8') ?? '';
const types = (parts: StoredPart[]): string[] => parts.map((p) => p.contentType);

t.test('Thunderbird: multipart/alternative, UTF-8 quoted-printable, encoded-word subject, folded To', async (t) => {
  const { message, parts } = await deliver('thunderbird-alternative-qp.eml');
  t.equal(message.envelope.subject, 'Treffen am Dienstag – Grüße');
  t.equal(message.envelope.from, 'joerg@example.de');
  t.same(message.envelope.to, ['+15550002222', 'team-nord@example.de'], 'both addresses of the folded To header');
  t.same(types(parts), ['application/smil', 'text/plain; charset=utf-8'], 'the HTML alternative is reduced to the text, not kept');
  t.equal(text(parts[1]), 'Hallo Anna,\n\ndas Treffen ist am Dienstag um 10:00 – bis dann! Grüße, Jörg');
  t.equal(message.envelope.contentType, 'multipart/related; start="<smil>"; type="application/smil"');
});

t.test('Apple Mail: inline image by Content-ID inside multipart/related', async (t) => {
  const { parts } = await deliver('apple-mail-inline-image.eml');
  t.same(types(parts), ['application/smil', 'text/plain; charset=utf-8', 'image/png; name=logo.png']);
  t.equal(text(parts[1]), 'Here is the new logo.');
  t.same(parts[2]!.data, PNG, 'PNG byte-identical');
  t.equal(parts[2]!.contentId, 'logo-7F3A@example.com', 'Content-ID kept, without brackets');
  t.equal(parts[2]!.contentLocation, 'logo.png');
  t.match(text(parts[0]), /<img src="logo\.png" region="Image"\/><text src="text\.txt" region="Text"\/>/);
});

t.test('Outlook: ISO-8859-1 quoted-printable body and subject, X-Priority, base64 JPEG, plain-number recipient', async (t) => {
  const { message, parts } = await deliver('outlook-iso-8859-1.eml', '15550002222@mms.local');
  t.equal(message.envelope.subject, 'Photo du chantier à Lyon');
  t.equal(message.envelope.priority, 'High');
  t.equal(text(parts[1]), 'Bonjour Hélène,\n\nci-joint la photo du chantier. À bientôt,\nFrançois', 'Latin-1 text stored as UTF-8');
  t.equal(parts[1]!.contentType, 'text/plain; charset=utf-8');
  t.same(parts[2]!.data, JPEG, 'JPEG byte-identical');
  t.equal(parts[2]!.contentType, 'image/jpeg; name=chantier.jpg');
  t.same(message.envelope.to, ['+15550002222']);
});

t.test('Shift_JIS base64 body and ISO-2022-JP subject', async (t) => {
  const { message, parts } = await deliver('shift-jis-base64.eml');
  t.equal(message.envelope.subject, '写真');
  t.same(types(parts), ['application/smil', 'text/plain; charset=utf-8']);
  t.equal(text(parts[1]), 'こんにちは。写真を送ります。\n東京より');
});

t.test("a handset's own SMIL is kept as the start part, no second SMIL made", async (t) => {
  const { message, parts } = await deliver('handset-own-smil.eml');
  t.equal(message.envelope.from, '+15559990000', 'a /TYPE=PLMN sender becomes a number');
  t.same(types(parts), ['application/smil; name=mms.smil', 'image/jpeg; name=IMG_0042.jpg', 'text/plain; charset=utf-8; name=text01.txt']);
  t.equal(parts[0]!.contentId, 'smil01');
  t.match(text(parts[0]), /<img src="cid:img01" region="Image"\/>/, 'the sender’s SMIL, unchanged');
  t.equal(message.envelope.contentType, 'multipart/related; start="<smil01>"; type="application/smil"');
  t.same(parts[1]!.data, JPEG);
  t.equal(parts[1]!.contentId, 'img01');
  t.equal(text(parts[2]), 'Sunset over the bay 🌅', 'UTF-8 text attachment byte-identical');
});

t.test('long folded headers: Subject unfolded, References do not disturb', async (t) => {
  const { message, parts } = await deliver('long-folded-headers.eml');
  t.equal(
    message.envelope.subject,
    'Weekly digest of the MMS interworking discussion list, volume 12, issue 7: SMIL layouts, character sets, delivery reports, MM4 peering agreements and more topics',
  );
  t.equal(text(parts[1]), "Today's topics:\n  1. SMIL layouts\n  2. Character sets");
});

t.test('HTML only: reduced to text', async (t) => {
  const { parts } = await deliver('html-only.eml');
  t.same(types(parts), ['application/smil', 'text/plain; charset=utf-8']);
  t.match(text(parts[1]), /ORDER 1234[\s\S]*Shipped today\./i);
  t.notMatch(text(parts[1]), /<p>|<h1>/, 'no markup left');
});

t.test("html: 'part' keeps the HTML beside the text, its cid: links intact", async (t) => {
  const mail = await simpleParser(fixture('apple-mail-inline-image.eml'), { keepCidLinks: true });
  const { parts } = contentFromMail(mail, 'part');
  t.same(
    parts.map((p) => p.contentType),
    ['application/smil', 'text/plain; charset=utf-8', 'text/html; charset=utf-8', 'image/png; name=logo.png'],
  );
  t.match(parts[2]!.data.toString('utf8'), /src="cid:logo-7F3A@example\.com"/);
});

t.test('every fixture passes the structure check; broken variants do not', async (t) => {
  for (const name of ['thunderbird-alternative-qp.eml', 'apple-mail-inline-image.eml', 'outlook-iso-8859-1.eml', 'shift-jis-base64.eml', 'handset-own-smil.eml', 'long-folded-headers.eml', 'html-only.eml']) {
    t.doesNotThrow(() => checkMimeStructure(fixture(name)), name);
  }
  const apple = fixture('apple-mail-inline-image.eml').toString('latin1');
  const cases: Array<[string, string, RegExp]> = [
    ['truncated', apple.slice(0, apple.lastIndexOf('--Apple-Mail=_D4E5F6--')), /not closed/],
    ['no boundary', apple.replace('; boundary="Apple-Mail=_A1B2C3"', ''), /without a boundary/],
    ['bad base64', apple.replace('iVBORw0KGgo', 'iVBOR!!KGgo'), /base64 alphabet/],
    ['bad header', `not a header line\r\n${apple}`, /is not a header field/],
    ['unknown encoding', fixture('html-only.eml').toString('latin1').replace('quoted-printable', 'x-rot13'), /Content-Transfer-Encoding/],
  ];
  for (const [what, mail, reason] of cases) {
    t.throws(() => checkMimeStructure(Buffer.from(mail, 'latin1')), MalformedMail, what);
    try {
      checkMimeStructure(Buffer.from(mail, 'latin1'));
    } catch (e) {
      t.match((e as Error).message, reason, `${what}: the reason says why`);
      t.equal((e as MalformedMail).code, 'SMTP_MALFORMED_MIME');
    }
  }
});

t.test('generated SMIL: one slide per picture, text on the first, names escaped', async (t) => {
  const smil = generateSmil([
    { contentType: 'text/plain; charset=utf-8', contentLocation: 'text.txt', data: Buffer.from('hi') },
    { contentType: 'image/jpeg', contentLocation: 'a&b.jpg', data: Buffer.alloc(1) },
    { contentType: 'audio/amr', contentLocation: 'voice.amr', data: Buffer.alloc(1) },
  ]);
  t.equal(
    smil.replace(/^.*<body>|<\/body>.*$/g, ''),
    '<par dur="5000ms"><img src="a&amp;b.jpg" region="Image"/><text src="text.txt" region="Text"/></par><par dur="5000ms"><audio src="voice.amr"/></par>',
  );
});
