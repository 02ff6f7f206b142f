import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import t from 'tap';
import { forwardOf, image, sendForward, startNode, subscribe, TEXT_PART } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// CI (.ci/run) installs chromium and never skips this test.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A 0.2 s 8 kHz mono 16-bit WAV. */
function wav(): Buffer {
  const samples = 1600;
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(b.length - 8, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(samples * 2, 40);
  return b;
}

t.test('the album in headless Chromium: newest first, thumbnails, text, geolocation, parts', { skip: existsSync(CHROMIUM) || process.env.CI !== undefined || process.env.MMSGW_REQUIRE_TSHARK !== undefined ? false : `${CHROMIUM} is not installed` }, async (t) => {
  const { node, base } = await startNode(t);
  const sub = await subscribe(base, '+15550001111');
  const red = await image('jpeg', 640, 480, [220, 30, 30]);
  const blue = await image('png', 300, 500, [20, 40, 220]);
  const a = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'a', subject: 'Oldest, just text', parts: [{ ...TEXT_PART, data: Buffer.from('Only words <b>here</b>') }] }));
  const b = await sendForward(
    base,
    forwardOf({
      subscriptionId: sub.id,
      originalMessageId: 'b',
      subject: 'Two photos',
      sender: '+15550007777',
      parts: [{ contentType: 'image/jpeg', contentId: 'red', contentLocation: 'red.jpg', data: red }, { contentType: 'image/png', contentId: 'blue', contentLocation: 'blue.png', data: blue }, TEXT_PART],
      additional: { geolocation: { lat: 48.85837, lon: 2.294481, source: 'exif', label: 'Paris' }, notice: 'This message is archived' },
    }),
  );
  const c = await sendForward(base, forwardOf({ subscriptionId: sub.id, originalMessageId: 'c', subject: 'Newest, a voice note', parts: [{ contentType: 'audio/wav', contentLocation: 'note.wav', data: wav() }] }));
  const [idA, idB, idC] = [a, b, c].map((r) => r.headers.get('x-archive-id')!) as [string, string, string];

  const profile = mkdtempSync(join(tmpdir(), 'archive-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  // A persistent context is how Playwright takes a user-data dir (a --user-data-dir argument is refused).
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
  t.teardown(() => context.close());
  const page = await context.newPage();

  const res = await page.goto(sub.albumUrl);
  t.equal(res?.status(), 200);
  t.equal(await page.locator('li.message').count(), 3, 'three messages listed');
  t.same(await page.locator('li.message').evaluateAll((els) => els.map((e) => e.getAttribute('data-archive-id'))), [idC, idB, idA], 'newest first');
  t.same(await page.locator('li.message .subject').allInnerTexts(), ['Newest, a voice note', 'Two photos', 'Oldest, just text']);
  const second = page.locator('li.message').nth(1);
  t.match(await second.innerText(), /\+15550007777/, 'sender');
  t.match(await second.innerText(), /2026-11-20 10:00:00 UTC/, 'date');
  t.match(await second.innerText(), /Paris 48\.85837, 2\.29448/, 'geolocation');
  t.match(await page.locator('li.message').nth(2).innerText(), /Only words <b>here<\/b>/, 'text shown, escaped');
  // In-page code as strings: this project's TypeScript has no DOM library.
  await page.waitForFunction(`[...document.querySelectorAll('.thumbs img')].every((i) => i.complete)`);
  const thumbs = (await page.evaluate(`[...document.querySelectorAll('.thumbs img')].map((i) => i.naturalWidth)`)) as number[];
  t.equal(thumbs.length, 2, 'two thumbnails');
  t.ok(thumbs.every((w) => w > 0 && w <= 240), `thumbnails loaded and small (${thumbs.join(', ')})`);
  t.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, 'no horizontal scrolling on a phone');

  const shot = await page.screenshot({ fullPage: true });
  t.ok(shot.subarray(0, 8).equals(PNG_SIGNATURE), 'the screenshot is a PNG');
  const meta = await sharp(shot).metadata();
  t.equal(meta.width, 390 * 2, 'phone width at 2x');
  // ARCHIVE_ALBUM_SHOT=/some/file.png keeps the screenshot for a human to look at.
  writeFileSync(process.env.ARCHIVE_ALBUM_SHOT ?? join(profile, 'album.png'), shot);

  // The thumbnail is a cached JPEG.
  t.ok(node.db.getThumbnail(idB, 0)?.subarray(0, 2).equals(Buffer.from([0xff, 0xd8])), 'a JPEG thumbnail cached in DB2');

  // One message: all its parts.
  await second.locator('a').click();
  await page.waitForSelector('.part img');
  t.match(await page.locator('h1').innerText(), /Two photos/);
  t.equal(await page.locator('.part img').count(), 2);
  await page.waitForFunction(`[...document.querySelectorAll('.part img')].every((i) => i.complete && i.naturalWidth > 0)`);
  t.same(await page.evaluate(`[...document.querySelectorAll('.part img')].map((i) => i.naturalWidth)`), [640, 300], 'full images');
  t.match(await page.locator('body').innerText(), /This message is archived/, 'the notice');
  t.match(await page.locator('.part .text').innerText(), /Hello from the beach/);
  const messageShot = await page.screenshot();
  t.ok(messageShot.subarray(0, 8).equals(PNG_SIGNATURE));

  // Parts download with their content types.
  const hrefs = (await page.evaluate(`[...document.querySelectorAll('a[download]')].map((a) => a.href)`)) as string[];
  t.equal(hrefs.length, 3);
  const jpeg = await fetch(hrefs[0]!);
  t.equal(jpeg.headers.get('content-type'), 'image/jpeg');
  t.ok(Buffer.from(await jpeg.arrayBuffer()).equals(red), 'byte-identical download');
  const text = await fetch(hrefs[2]!);
  t.equal(text.headers.get('content-type'), TEXT_PART.contentType);

  await page.goto(`${sub.albumUrl}/m/${idC}`);
  t.equal(await page.locator('audio').count(), 1, 'audio part playable in place');
  const audio = await fetch(`${sub.albumUrl}/m/${idC}/parts/0`);
  t.equal(audio.headers.get('content-type'), 'audio/wav');
});
