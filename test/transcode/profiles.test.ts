import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accepts,
  CONTENT_CLASSES,
  firstProfileUrl,
  loadProfileRegistry,
  loadUaprofFile,
  parseProfile,
  parseUaprof,
  profileFromClass,
  profileId,
  ProfileError,
  ProfileRegistry,
  TerminalTranscoder,
} from '../../src/transcode/index.js';

const CONF = new URL('../../conf/terminals/', import.meta.url).pathname;
const FIXTURES = new URL('../../fixtures/media/', import.meta.url).pathname;

t.test('conf/terminals: the four profiles with their content classes and limits', async (t) => {
  const reg = loadProfileRegistry(CONF);
  const expect = {
    default: { contentClass: 'image-rich', size: 100 * 1024, image: { width: 640, height: 480 } },
    'feature-phone': { contentClass: 'image-basic', size: 30 * 1024, image: { width: 160, height: 120 } },
    'mid-range': { contentClass: 'video-rich', size: 300 * 1024, image: { width: 640, height: 480 } },
    smartphone: { contentClass: 'megapixel', size: 600 * 1024, image: { width: 1600, height: 1200 } },
  } as const;
  for (const [name, e] of Object.entries(expect)) {
    const p = reg.byName(name);
    t.ok(p, `${name} is loaded`);
    t.equal(p!.contentClass, e.contentClass, `${name}: content class`);
    t.equal(p!.maxMessageSize, e.size, `${name}: maximum message size`);
    t.same(p!.maxImage, e.image, `${name}: maximum image resolution`);
    // A profile never promises more than its conformance class allows.
    const cls = CONTENT_CLASSES[p!.contentClass];
    t.ok(p!.maxMessageSize <= cls.maxMessageSize, `${name}: size within ${p!.contentClass}`);
  }
  t.equal(reg.defaultProfile.name, 'default');
  t.notOk(accepts(reg.byName('feature-phone')!, 'audio/amr'), 'Image Basic takes no audio');
  t.ok(accepts(reg.byName('smartphone')!, 'image/webp'), 'image/* is a wildcard');
  t.notOk(accepts(reg.byName('smartphone')!, 'application/zip'));
});

t.test('UAProf file → profile', async (t) => {
  const p = loadUaprofFile(join(FIXTURES, 'uaprof-midrange.rdf'));
  t.equal(p.name, 'http://uaprof.example.com/ExamplePhone-X200.xml', 'named by its own URL, fragment dropped');
  t.equal(p.maxMessageSize, 307200);
  t.same(p.maxImage, { width: 640, height: 480 });
  t.same(p.screen, { width: 240, height: 320 });
  t.same(p.accept, ['application/smil', 'text/plain', 'image/jpeg', 'image/gif', 'image/png', 'audio/amr', 'video/3gpp']);
  t.same(p.charsets, ['utf-8', 'iso-8859-1']);
  t.equal(p.contentClass, 'video-rich', '300 KB, VGA and video: Video Rich');
  t.same(p.uaprofUrls, ['http://uaprof.example.com/ExamplePhone-X200.xml']);

  const old = loadUaprofFile(join(FIXTURES, 'uaprof-oldstyle.rdf'));
  t.equal(old.maxMessageSize, 30720, 'another prefix (mms:) is read the same');
  t.same(old.maxImage, { width: 128, height: 128 }, 'no MmsMaxImageResolution: the screen size is the limit');
  t.same(old.charsets, ['us-ascii', 'iso-8859-1'], 'the old MmsCcppAccept-CharSet spelling');
  t.equal(old.contentClass, 'image-basic');

  t.throws(() => parseUaprof('<html><body>not rdf</body></html>'), ProfileError, 'an HTML page is not a UAProf document');
  t.throws(() => parseUaprof('<rdf:RDF xmlns:rdf="x"><unclosed>'), ProfileError, 'malformed XML is a ProfileError');
  t.throws(() => parseUaprof(Buffer.alloc(2 << 20, 0x20)), ProfileError, 'a huge document is refused before parsing');
});

t.test('conf/terminals/uaprof/*.rdf are loaded and matched by their URL', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-profiles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'default.yaml'), 'name: default\ncontentClass: text\n');
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(join(dir, 'uaprof'));
  copyFileSync(join(FIXTURES, 'uaprof-midrange.rdf'), join(dir, 'uaprof', 'x200.rdf'));
  const reg = loadProfileRegistry(dir);
  const m = reg.match({ profileUrl: '"http://uaprof.example.com/ExamplePhone-X200.xml"' });
  t.equal(m.by, 'x-wap-profile');
  t.equal(m.profile.maxMessageSize, 307200);
  t.equal(reg.defaultProfile.contentClass, 'text');
});

t.test('matching order: x-wap-profile, then User-Agent, then the subscriber, then the default', async (t) => {
  const reg = loadProfileRegistry(CONF);
  const FEATURE_URL = 'http://uaprof.example.net/feature-phone-v1.xml';
  const all = { profileUrl: FEATURE_URL, userAgent: 'Mozilla/5.0 (Linux; Android 14)', subscriberProfile: 'mid-range' };
  t.same([reg.match(all).profile.name, reg.match(all).by], ['feature-phone', 'x-wap-profile'], 'the UAProf URL wins over everything');
  const noUrl = { userAgent: all.userAgent, subscriberProfile: 'mid-range' };
  t.same([reg.match(noUrl).profile.name, reg.match(noUrl).by], ['smartphone', 'user-agent'], 'then the User-Agent');
  const unknownUrl = { profileUrl: 'http://nowhere.example/unknown.xml', userAgent: 'NokiaN73-1/3.0638', subscriberProfile: 'smartphone' };
  t.same([reg.match(unknownUrl).profile.name, reg.match(unknownUrl).by], ['mid-range', 'user-agent'], 'an unknown UAProf URL falls through');
  const sub = { userAgent: 'UnknownBrowser/1.0', subscriberProfile: 'feature-phone' };
  t.same([reg.match(sub).profile.name, reg.match(sub).by], ['feature-phone', 'subscriber'], 'then the subscriber profile in DB1');
  const subUrl = { subscriberProfile: 'http://uaprof.example.net/smartphone-v3.xml' };
  t.same([reg.match(subUrl).profile.name, reg.match(subUrl).by], ['smartphone', 'subscriber'], 'a subscriber profile may be a UAProf URL');
  const none = { userAgent: 'UnknownBrowser/1.0', subscriberProfile: 'no-such-profile' };
  t.same([reg.match(none).profile.name, reg.match(none).by], ['default', 'default'], 'finally the default');
  t.same(reg.match({}).by, 'default');
  t.equal(firstProfileUrl('"http://a.example/p.xml", "1-dGhpcyBpcyBhIGRpZmY="'), 'http://a.example/p.xml', 'x-wap-profile with a diff digest');
  t.equal(reg.match({ profileUrl: 'HTTP://UAPROF.EXAMPLE.NET/feature-phone-v1.xml#x' }).profile.name, 'feature-phone', 'scheme and host case and the fragment do not matter');
});

t.test('the transcoder looks the subscriber up by recipient address', async (t) => {
  const reg = loadProfileRegistry(CONF);
  const asked: string[] = [];
  const tc = new TerminalTranscoder({
    profiles: reg,
    subscriberProfile: (a) => {
      asked.push(a);
      return a === '+15550002222' ? 'feature-phone' : undefined;
    },
  });
  t.equal(tc.match({ userAgent: 'Unknown/1.0', recipient: '+15550002222' }).profile.name, 'feature-phone');
  t.equal(tc.match({ userAgent: 'Unknown/1.0', recipient: '+15550009999' }).profile.name, 'default');
  t.equal(tc.match({ userAgent: 'Android 14', recipient: '+15550002222' }).by, 'user-agent');
  t.same(asked.slice(0, 2), ['+15550002222', '+15550009999']);
});

t.test('bad profile files are named errors', async (t) => {
  t.throws(() => parseProfile({ name: 'x', contentClass: 'hologram' }, 'x.yaml'), { name: 'ProfileError', message: /x\.yaml: contentClass/ });
  t.throws(() => parseProfile({ name: 'x', contentClass: 'text', maxImageResolution: 'big' }, 'x.yaml'), { message: /maxImageResolution/ });
  t.throws(() => parseProfile({ name: 'x', contentClass: 'text', maxMessageSize: '30 parsecs' }, 'x.yaml'), { message: /maxMessageSize/ });
  t.throws(() => parseProfile({ name: 'x', contentClass: 'text', match: { userAgent: ['(unclosed'] } }, 'x.yaml'), { message: /userAgent/ });
  t.throws(() => parseProfile({ name: 'x', contentClass: 'text', colour: 'red' }, 'x.yaml'), { message: /x\.yaml/ }, 'unknown keys are refused');
  t.throws(() => new ProfileRegistry([profileFromClass('a', 'text'), profileFromClass('a', 'megapixel')]), ProfileError, 'duplicate names');
  const p = parseProfile({ name: 'small', contentClass: 'image-basic', maxMessageSize: '20KB' }, 'small.yaml');
  t.equal(p.maxMessageSize, 20480);
  t.same(p.maxImage, { width: 160, height: 120 }, 'the class gives what the file leaves out');
  t.not(profileId(p), profileId({ ...p, maxMessageSize: 20000 }), 'a changed limit changes the cache identity');
});
