import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../helpers/cli.js';
import { photoJpeg } from './media.js';

const FIXTURES = new URL('../../fixtures/media/', import.meta.url).pathname;

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-cli-transcode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


t.test('mmsc transcode --profile feature-phone: prints the plan and writes the adapted parts', async (t) => {
  const dir = tmp(t);
  const photo = join(dir, 'photo.jpg');
  writeFileSync(photo, await photoJpeg(1200, 900));
  const amr = join(dir, 'voice.amr');
  writeFileSync(amr, Buffer.concat([Buffer.from('#!AMR\n'), Buffer.alloc(32 * 10, 0x3c)]));
  const out = join(dir, 'out');
  const r = await runCli(['transcode', '--profile', 'feature-phone', '--out', out, join(FIXTURES, 'hello.smil'), join(FIXTURES, 'hello.png'), join(FIXTURES, 'hello.txt'), photo, amr]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^profile feature-phone \(image-basic\): at most 30720 octets, images 160x120$/m);
  t.match(r.out, /adapted\s+hello\.png: image\/png .* → image\/gif 160x120/);
  t.match(r.out, /adapted\s+photo\.jpg: image\/jpeg .* → image\/jpeg 160x120/);
  t.match(r.out, /replaced\s+voice\.amr: this phone does not accept audio\/amr \[MEDIA_NOT_ACCEPTED\]/);
  t.match(r.out, /M-Retrieve\.conf: \d+ octets, fits \(limit 30720\)/);
  t.same(readdirSync(out).sort(), ['hello.gif', 'hello.smil', 'hello.txt', 'photo.jpg', 'voice.txt']);
  const m = await sharp(readFileSync(join(out, 'photo.jpg'))).metadata();
  t.same([m.format, m.width, m.height], ['jpeg', 160, 120]);
  t.match(readFileSync(join(out, 'hello.smil'), 'utf8'), /<img src="hello\.gif" region="Image"\/>/, 'the SMIL names the new file');
});

t.test('mmsc transcode with a UAProf file, --dry-run, and bad input', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'out');
  const r = await runCli(['transcode', '--profile', join(FIXTURES, 'uaprof-midrange.rdf'), '--dry-run', '--out', out, join(FIXTURES, 'hello.png')]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /at most 307200 octets, images 640x480/);
  t.match(r.out, /kept\s+hello\.png: image\/png, [\d.]+ KB, suits this phone as it is/, 'a 400x300 PNG is accepted and within the box: sent as it is, never enlarged');
  t.notOk(existsSync(out), '--dry-run writes nothing');
  const unknown = await runCli(['transcode', '--profile', 'no-such', join(FIXTURES, 'hello.png')]);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /^mmsc: --profile "no-such": no such profile \(known: .*feature-phone.*\)/);
  const missing = await runCli(['transcode', '--profile', 'default', join(dir, 'missing.jpg')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /^mmsc: cannot read .*missing\.jpg/);
});
