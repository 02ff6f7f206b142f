import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { bodyChunks } from '../../src/frontends/http-util.js';
import { exposedMinorGc, GcPacer } from '../../src/util/gc-pacer.js';

t.test('GcPacer: one GC each time everyOctets were noted since the last, none without a GC to call', async (t) => {
  let gcs = 0;
  const pacer = new GcPacer(100, () => gcs++);
  pacer.note(60);
  t.equal(gcs, 0, '60 of 100');
  pacer.note(40);
  t.equal(gcs, 1, '100: a GC, and the count starts again');
  pacer.note(99);
  t.equal(gcs, 1);
  pacer.note(250);
  t.equal(gcs, 2, 'a long note is one GC, not several');
  t.doesNotThrow(() => new GcPacer(100, undefined).note(1e9), 'no GC exposed: nothing happens');
  t.throws(() => new GcPacer(0, () => {}), RangeError);
});

t.test('exposedMinorGc: the gc of a scope that has one, asked for a minor GC', async (t) => {
  const asked: unknown[] = [];
  const gc = exposedMinorGc({ gc: (opts: unknown) => asked.push(opts) });
  t.type(gc, 'function');
  gc!();
  t.same(asked, [{ type: 'minor' }]);
  t.equal(exposedMinorGc({}), undefined, 'no --expose-gc: undefined');
});

t.test("Node's gc({ type: 'minor' }) with --expose-gc is a scavenge, as gc-pacer.ts assumes", async (t) => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--trace-gc', '-e', "gc({ type: 'minor' })"], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /Scavenge/);
  t.notMatch(r.stdout, /Mark-Compact/, 'not a full GC');
});

/** bodyChunks over a fake request: `chunks` as the body, no Content-Length. */
function request(chunks: Buffer[]): IncomingMessage {
  return Object.assign(Readable.from(chunks), { headers: {} }) as unknown as IncomingMessage;
}

t.test('bodyChunks: octets past the first 512 KiB are paced, each chunk once the parser is done with it', async (t) => {
  const KIB64 = Buffer.alloc(64 * 1024);
  const order: string[] = [];
  const pacer = new GcPacer(1 << 20, () => order.push('gc'));
  // 512 KiB, then 3 MiB more: 48 chunks past the threshold, a GC after each 16th
  const chunks = Array.from({ length: 8 + 48 }, () => KIB64);
  let i = 0;
  for await (const chunk of bodyChunks(request(chunks), 16 << 20, pacer)) {
    order.push(`chunk ${i++}`);
    t.equal(chunk.length, KIB64.length);
  }
  t.equal(i, 56, 'every chunk handed on');
  t.equal(order.filter((x) => x === 'gc').length, 3, '3 MiB past the threshold, a GC per MiB');
  // the first paced chunk is the 9th (index 8): the 16th of them (index 23) brings the first GC, after it was used
  t.equal(order.indexOf('gc'), order.indexOf('chunk 23') + 1, 'the GC comes once chunk 23 was handled, before chunk 24 is handed on');

  const small: string[] = [];
  const quiet = new GcPacer(1, () => small.push('gc'));
  for await (const chunk of bodyChunks(request(Array.from({ length: 8 }, () => KIB64)), 16 << 20, quiet)) small.push(String(chunk.length));
  t.equal(small.length, 8, 'a body of 512 KiB: no GC at all');
});
