import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock, NewMessage, NewRecipient, StoredPart } from '../../src/mmsc/model.js';
import { canTransition, Db1, messageSource, PART_PIECE_OCTETS } from '../../src/store/db1.js';
import { DB1_MIGRATIONS, migrate, SchemaTooNewError } from '../../src/store/migrations.js';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const HOUR = 3_600_000;

class TestClock implements Clock {
  constructor(public ms = T0) {}
  now(): Date {
    return new Date(this.ms);
  }
}

/** A fresh directory under os.tmpdir(), removed when the test ends. */
function tmpFile(t: Test, name = 'db1.sqlite'): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-db1-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** A second connection to the file, as another process would see it: committed data only. */
function peek(t: Test, path: string): Database.Database {
  const raw = new Database(path, { readonly: true });
  t.teardown(() => raw.close());
  return raw;
}

const ALL_OCTETS = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function parts(): StoredPart[] {
  return [
    { contentType: 'application/smil', contentId: 'smil', contentLocation: 'pres.smil', data: Buffer.from('<smil><body><par/></body></smil>') },
    { contentType: 'text/plain; charset=utf-8', contentId: 'text1', data: Buffer.from('Grüße aus dem Labor ✓', 'utf8') },
    { contentType: 'image/jpeg', contentLocation: 'octets.jpg', data: Buffer.concat([ALL_OCTETS, ALL_OCTETS]) },
    { contentType: 'application/octet-stream', data: Buffer.alloc(0) },
  ];
}

function message(
  opts: { vaspId?: string; expiresAt?: number; to?: string[]; recipients?: NewRecipient[]; parts?: StoredPart[]; subject?: string } = {},
): NewMessage {
  const to = opts.to ?? ['+15550002222', '+15550003333'];
  return {
    envelope: {
      from: '12345',
      to,
      cc: [],
      bcc: [],
      subject: opts.subject ?? 'Hello',
      messageClass: 'Personal',
      priority: 'Normal',
      date: new Date(T0),
      expiresAt: new Date(opts.expiresAt ?? T0 + 48 * HOUR),
      earliestDelivery: new Date(T0 + 60_000),
      deliveryReport: true,
      readReport: false,
      contentType: 'multipart/related; start="<smil>"; type="application/smil"',
      allowAdaptations: true,
      origin: { interface: 'mm7', vaspId: opts.vaspId ?? 'demo', vasId: 'demo', release: 'REL-5-MM7-1-3', mm7Version: '5.6.0', transactionId: 'tx' },
    },
    parts: opts.parts ?? parts(),
    recipients: opts.recipients ?? to.map((address) => ({ address, kind: 'to' as const, state: 'accepted' as const })),
  };
}

/** 1 KB of content, as in the bench. */
function small(i: number): NewMessage {
  return message({ to: [`+1555${String(i).padStart(7, '0')}`], parts: [{ contentType: 'text/plain', data: Buffer.alloc(1024, i % 256) }] });
}

t.test('accept, then read back envelope, parts and recipients', async (t) => {
  const path = tmpFile(t);
  const clock = new TestClock();
  const db = Db1.open(path, { clock, idPrefix: 'mmsc1-' });
  t.teardown(() => db.close());
  const m = message({
    recipients: [
      { address: '+15550002222', kind: 'to', state: 'accepted' },
      { address: 'user@example.org', kind: 'cc', state: 'accepted' },
      { address: '+15559999999', kind: 'bcc', state: 'unroutable', reason: 'no route to +1555999' },
      { address: '+15550002222', kind: 'cc', state: 'accepted' }, // again: the first mention wins
    ],
  });
  const r = await db.accept(m);
  t.equal(r.duplicate, false);
  t.match(r.messageId, /^mmsc1-[0-9a-z]{22}$/);
  t.same([...r.tokens.keys()], ['+15550002222', 'user@example.org', '+15559999999']);
  const tokens = [...r.tokens.values()];
  t.equal(new Set(tokens).size, 3, 'distinct tokens');
  // 22 characters: the time (base36 ms), then 78 random bits (base64url); in accept order, so the token index appends.
  for (const token of tokens) t.match(token, /^[0-9a-z]{9}[A-Za-z0-9_-]{13}$/, 'time, then 78 random bits');

  const stored = db.getMessage(r.messageId);
  if (!stored) throw new Error('not stored');
  t.same(stored.envelope, m.envelope, 'envelope, dates included');
  t.ok(stored.envelope.date instanceof Date && stored.envelope.earliestDelivery instanceof Date);
  t.equal(stored.destroyed, false);
  t.equal(stored.size, m.parts.reduce((n, p) => n + p.data.length, 0));
  t.same(
    stored.recipients.map((x) => [x.address, x.kind, x.state, x.reason, x.token, x.updatedAt.getTime()]),
    [
      ['+15550002222', 'to', 'accepted', undefined, r.tokens.get('+15550002222'), T0],
      ['user@example.org', 'cc', 'accepted', undefined, r.tokens.get('user@example.org'), T0],
      ['+15559999999', 'bcc', 'unroutable', 'no route to +1555999', r.tokens.get('+15559999999'), T0],
    ],
  );

  const back = db.getParts(r.messageId);
  t.equal(back.length, 4);
  back.forEach((p, i) => {
    const want = m.parts[i]!;
    t.ok(Buffer.isBuffer(p.data), `part ${i} is a Buffer`);
    t.ok(p.data.equals(want.data), `part ${i} byte-identical`);
    t.same({ ...p, data: null }, { ...want, data: null }, `part ${i} headers`);
  });

  t.same(
    db.events(r.messageId).map((e) => [e.address, e.type, e.detail, e.at.getTime()]),
    [
      ['+15550002222', 'accepted', null, T0],
      ['user@example.org', 'accepted', null, T0],
      ['+15559999999', 'unroutable', 'no route to +1555999', T0],
    ],
  );

  const hit = db.findByToken(r.tokens.get('user@example.org')!);
  t.equal(hit?.message.messageId, r.messageId);
  t.equal(hit?.recipient.address, 'user@example.org');
  t.equal(db.findByToken('AAAAAAAAAAAAAAAAAAAAAA'), undefined, 'unknown token');
  t.equal(db.getMessage('nope'), undefined);
  t.same(db.getParts('nope'), []);

  // The row columns the queries use, as another connection sees them.
  const row = peek(t, path)
    .prepare('SELECT sender, subject, date, expires_at, origin_interface, source, content_type, size, destroyed FROM messages WHERE message_id = ?')
    .get(r.messageId);
  t.same(row, {
    sender: '12345',
    subject: 'Hello',
    date: T0,
    expires_at: T0 + 48 * HOUR,
    origin_interface: 'mm7',
    source: 'mm7:demo',
    content_type: m.envelope.contentType,
    size: stored.size,
    destroyed: 0,
  });
  t.equal(peek(t, path).pragma('journal_mode', { simple: true }), 'wal');
});

t.test('message ids are unique and sort in accept order, even in one millisecond', async (t) => {
  const db = Db1.open(':memory:', { clock: new TestClock(), idPrefix: 'x' });
  t.teardown(() => db.close());
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await db.accept(small(i))).messageId);
  ids.push(...(await Promise.all(Array.from({ length: 200 }, (_, i) => db.accept(small(i))))).map((r) => r.messageId));
  t.equal(new Set(ids).size, ids.length);
  t.same([...ids].sort(), ids, 'sorted');
  t.ok(ids.every((id) => id.startsWith('x')));
  t.equal(messageSource({ interface: 'mm1', msisdn: '+15550001111', transactionId: 'a' }), 'mm1:+15550001111');
});

t.test('read(): several reads in one transaction, a value back, nothing left open', async (t) => {
  const db = Db1.open(':memory:', { clock: new TestClock() });
  t.teardown(() => db.close());
  const { messageId } = await db.accept(small(1));
  const both = db.read(() => {
    t.ok(db.sqlite.inTransaction, 'inside a read transaction');
    return { message: db.getMessage(messageId), parts: db.getParts(messageId) };
  });
  t.equal(both.message?.messageId, messageId);
  t.equal(both.parts.length, 1);
  t.notOk(db.sqlite.inTransaction, 'closed after');
  t.throws(() => db.read(() => { throw new Error('boom'); }), /boom/);
  t.notOk(db.sqlite.inTransaction, 'closed after a throw too');
  const inWrite = await db.write(() => db.read(() => db.getMessage(messageId)?.messageId));
  t.equal(inWrite, messageId, 'inside a write it just runs');
});

t.test('retrieval tokens sort by accept time (the index appends) and differ within one millisecond', async (t) => {
  const clock = new TestClock();
  const db = Db1.open(':memory:', { clock });
  t.teardown(() => db.close());
  const tokens: string[] = [];
  for (let i = 0; i < 20; i++) {
    clock.ms += 7;
    const r = await db.accept(small(i));
    tokens.push(...r.tokens.values());
  }
  t.same(
    tokens.map((x) => x.slice(0, 9)),
    tokens.map((x) => x.slice(0, 9)).sort(),
    'time prefixes in accept order',
  );
  const same = await Promise.all(Array.from({ length: 50 }, (_, i) => db.accept(small(100 + i))));
  const sameMs = same.flatMap((r) => [...r.tokens.values()]);
  t.equal(new Set(sameMs).size, sameMs.length, 'fifty in one millisecond: all different');
});

t.test('group commit: 100 concurrent accepts, few transactions, each resolved after its commit', async (t) => {
  const path = tmpFile(t);
  const db = Db1.open(path);
  t.teardown(() => db.close());
  const other = peek(t, path);
  const count = other.prepare<[string], { n: number }>('SELECT count(*) AS n FROM messages WHERE message_id = ?');
  let seenByOthers = 0;
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      db.accept(small(i)).then((r) => {
        // Resolved means committed: another connection already reads it.
        seenByOthers += count.get(r.messageId)!.n;
        return r;
      }),
    ),
  );
  t.equal(results.length, 100);
  t.equal(new Set(results.map((r) => r.messageId)).size, 100);
  t.equal(seenByOthers, 100, 'every message visible to another connection when its promise resolved');
  t.ok(db.stats.commits < 10, `${db.stats.commits} commits for 100 accepts`);
  t.equal(db.stats.writes, 100);
  t.equal(db.stats.failedCommits, 0);
  t.same(other.prepare('SELECT count(*) AS n FROM parts').get(), { n: 100 });
});

t.test('group commit: a write that fails in a batch rolls back alone', async (t) => {
  const db = Db1.open(':memory:');
  t.teardown(() => db.close());
  const bad = message({ recipients: [{ address: null as unknown as string, kind: 'to', state: 'accepted' }] });
  const [a, b, c] = await Promise.allSettled([db.accept(small(1)), db.accept(bad), db.accept(small(2))]);
  t.equal(a.status, 'fulfilled');
  t.equal(c.status, 'fulfilled');
  t.equal(b.status, 'rejected');
  t.match(b.status === 'rejected' ? b.reason : undefined, { code: 'SQLITE_CONSTRAINT_NOTNULL' });
  t.equal(db.stats.commits, 1, 'the others still committed, in the same transaction');
  // Nothing of the failed one: no orphan message row without its recipients.
  const ids = [a, c].map((x) => (x.status === 'fulfilled' ? x.value.messageId : ''));
  for (const id of ids) t.equal(db.getMessage(id)?.recipients.length, 1);
  await t.rejects(db.accept({ ...small(3), envelope: { ...small(3).envelope, expiresAt: new Date(NaN) } }), TypeError);
  await t.rejects(db.accept(message({ recipients: [{ address: 'a', kind: 'xx' as 'to', state: 'accepted' }] })), TypeError);
});

t.test('group commit: maxBatch splits a long queue over several turns', async (t) => {
  const db = Db1.open(':memory:', { maxBatch: 5 });
  t.teardown(() => db.close());
  const done = await Promise.all(Array.from({ length: 12 }, (_, i) => db.accept(small(i))));
  t.equal(done.length, 12);
  t.same({ ...db.stats }, { commits: 3, writes: 12, largestBatch: 5, failedCommits: 0 });
  t.throws(() => Db1.open(':memory:', { maxBatch: 0 }), RangeError);
});

t.test('idempotency: a known (source, transactionId) returns the first id and stores nothing', async (t) => {
  const path = tmpFile(t);
  const db = Db1.open(path);
  t.teardown(() => db.close());
  const key = { source: 'mm7:demo', transactionId: 'tx-42' };
  const first = await db.accept(message(), key);
  const again = await db.accept(message({ subject: 'different' }), key);
  t.equal(first.duplicate, false);
  t.equal(again.duplicate, true);
  t.equal(again.messageId, first.messageId);
  t.same([...again.tokens], [...first.tokens], 'the first message tokens');

  // Two identical keys in one batch.
  const k2 = { source: 'mm1:+15550001111', transactionId: 'T1' };
  const [x, y] = await Promise.all([db.accept(message(), k2), db.accept(message(), k2)]);
  t.same([x.duplicate, y.duplicate], [false, true]);
  t.equal(x.messageId, y.messageId);

  // The same transaction id from another source is another message.
  const z = await db.accept(message(), { source: 'mm7:other', transactionId: 'tx-42' });
  t.equal(z.duplicate, false);
  t.not(z.messageId, first.messageId);

  const raw = peek(t, path);
  t.same(raw.prepare('SELECT count(*) AS n FROM messages').get(), { n: 3 });
  t.same(raw.prepare('SELECT count(*) AS n FROM recipients').get(), { n: 6 });
  t.same(raw.prepare('SELECT count(*) AS n FROM idempotency').get(), { n: 3 });
  t.equal(db.getMessage(first.messageId)?.envelope.subject, 'Hello', 'the duplicate changed nothing');
});

t.test('setState: forward only, final states stay, every change an event', async (t) => {
  const clock = new TestClock();
  const db = Db1.open(':memory:', { clock });
  t.teardown(() => db.close());
  const { messageId: id } = await db.accept(message({ to: ['+15550002222', '+15550003333', '+15550004444'] }));
  const [a, b, c] = ['+15550002222', '+15550003333', '+15550004444'] as const;
  const state = (addr: string) => db.getMessage(id)!.recipients.find((r) => r.address === addr)!;

  clock.ms += 1000;
  t.equal(await db.setState(id, a, 'notified', 'smpp 0a1b'), true);
  t.equal(await db.setState(id, a, 'notified'), false, 'same state: nothing changes');
  t.equal(await db.setState(id, a, 'deferred'), true, 'notified -> deferred');
  clock.ms += 1000;
  t.equal(await db.setState(id, a, 'retrieved', 'Nokia'), true);
  t.equal(await db.setState(id, a, 'notified'), false, 'retrieved -> notified is backwards');
  t.equal(await db.setState(id, a, 'expired'), false, 'no final state once retrieved');
  t.equal(await db.setState(id, a, 'acknowledged'), true);
  t.equal(state(a).state, 'acknowledged');
  t.equal(state(a).updatedAt.getTime(), T0 + 2000);
  t.equal(state(a).reason, undefined, 'progress states set no reason');

  t.equal(await db.setState(id, b, 'rejected', 'M-NotifyResp Rejected'), true);
  t.equal(await db.setState(id, b, 'retrieved'), false, 'rejected is final');
  t.equal(state(b).reason, 'M-NotifyResp Rejected');
  t.equal(await db.setState(id, c, 'cancelled'), true);
  t.equal(await db.setState(id, c, 'expired'), false, 'cancelled is final');

  t.equal(await db.setState(id, '+19999', 'notified'), false, 'unknown recipient');
  t.equal(await db.setState('nope', a, 'notified'), false, 'unknown message');
  await t.rejects(db.setState(id, a, 'toString' as 'notified'), TypeError);

  t.same(
    db.events(id).filter((e) => e.address === a).map((e) => [e.type, e.detail, e.at.getTime()]),
    [
      ['accepted', null, T0],
      ['notified', 'smpp 0a1b', T0 + 1000],
      ['deferred', null, T0 + 1000],
      ['retrieved', 'Nokia', T0 + 2000],
      ['acknowledged', null, T0 + 2000],
    ],
  );
  t.same(db.events(id).filter((e) => e.address === b).map((e) => e.type), ['accepted', 'rejected']);

  // The table behind it.
  t.equal(canTransition('accepted', 'acknowledged'), true);
  t.equal(canTransition('deferred', 'notified'), true);
  t.equal(canTransition('acknowledged', 'retrieved'), false);
  t.equal(canTransition('unroutable', 'notified'), false);
  t.equal(canTransition('expired', 'cancelled'), false);
  t.equal(canTransition('notified', 'expired'), true);
});

t.test('cancel: only by its own source, too late once retrieved', async (t) => {
  const path = tmpFile(t);
  const clock = new TestClock();
  const db = Db1.open(path, { clock });
  t.teardown(() => db.close());
  const m = await db.accept(
    message({
      recipients: [
        { address: '+15550002222', kind: 'to', state: 'accepted' },
        { address: '+15550003333', kind: 'to', state: 'accepted' },
        { address: '+15559999999', kind: 'to', state: 'unroutable', reason: 'no route' },
      ],
    }),
  );
  await db.setState(m.messageId, '+15550003333', 'notified');

  t.equal(await db.cancel(m.messageId, 'mm7:someone-else'), 'not-found', 'another VASP learns nothing');
  t.equal(await db.cancel('unknown-id', 'mm7:demo'), 'not-found');
  t.equal(db.getParts(m.messageId).length, 4, 'untouched');

  clock.ms += 5000;
  t.equal(await db.cancel(m.messageId, 'mm7:demo'), 'cancelled');
  t.same(db.getParts(m.messageId), []);
  t.equal(db.getMessageHead(m.messageId)?.destroyed, true, 'the head says so');
  t.equal(db.getMessageHead('no-such-id'), undefined);
  const after = db.getMessage(m.messageId)!;
  t.equal(after.destroyed, true);
  t.same(
    after.recipients.map((r) => r.state),
    ['cancelled', 'cancelled', 'unroutable'],
  );
  t.same(
    db.events(m.messageId).filter((e) => e.type === 'cancelled').map((e) => [e.address, e.detail, e.at.getTime()]),
    [
      ['+15550002222', 'by mm7:demo', T0 + 5000],
      ['+15550003333', 'by mm7:demo', T0 + 5000],
      [null, 'by mm7:demo', T0 + 5000],
    ],
  );
  t.equal(await db.cancel(m.messageId, 'mm7:demo'), 'cancelled', 'a retry gets the same answer');
  t.equal(await db.cancel(m.messageId, 'mm7:someone-else'), 'not-found');
  t.same(peek(t, path).prepare('SELECT count(*) AS n FROM parts WHERE message_id = ?').get(m.messageId), { n: 0 });

  const r = await db.accept(message());
  await db.setState(r.messageId, '+15550003333', 'retrieved');
  t.equal(await db.cancel(r.messageId, 'mm7:demo'), 'too-late');
  t.equal(db.getParts(r.messageId).length, 4, 'content kept');
  t.same(db.getMessage(r.messageId)!.recipients.map((x) => x.state), ['accepted', 'retrieved']);

  const e = await db.accept(message({ expiresAt: T0 + HOUR }));
  await db.expire(new Date(T0 + HOUR), 10);
  t.equal(await db.cancel(e.messageId, 'mm7:demo'), 'too-late', 'expired already');
});

t.test('expire: oldest-expiring first, batch respected, tombstones stay', async (t) => {
  const path = tmpFile(t);
  const clock = new TestClock();
  const db = Db1.open(path, { clock });
  t.teardown(() => db.close());
  // Accepted out of expiry order on purpose.
  const late = await db.accept(message({ expiresAt: T0 + 3 * HOUR, subject: 'late' }));
  const b = await db.accept(message({ expiresAt: T0 + 2 * HOUR, subject: 'b' }));
  const a = await db.accept(message({ expiresAt: T0 + 1 * HOUR, subject: 'a' }));
  const c = await db.accept(message({ expiresAt: T0 + 2 * HOUR + 1, subject: 'c' }));
  await db.setState(b.messageId, '+15550002222', 'retrieved');
  await db.setState(a.messageId, '+15550003333', 'rejected');

  t.same(await db.expire(new Date(T0 + HOUR - 1), 10), [], 'nothing is due before its TTL');

  const now = new Date(T0 + 2 * HOUR + 1);
  const first = await db.expire(now, 2);
  t.same(first, [
    { messageId: a.messageId, recipients: ['+15550002222'] },
    { messageId: b.messageId, recipients: ['+15550003333'] },
  ]);
  const second = await db.expire(now, 2);
  t.same(second, [{ messageId: c.messageId, recipients: ['+15550002222', '+15550003333'] }]);
  t.same(await db.expire(now, 2), [], 'all done');

  for (const { messageId } of [a, b, c]) {
    t.equal(db.getMessage(messageId)!.destroyed, true);
    t.same(db.getParts(messageId), []);
  }
  t.same(db.getMessage(b.messageId)!.recipients.map((r) => r.state), ['retrieved', 'expired'], 'retrieved stays retrieved');
  t.same(db.getMessage(a.messageId)!.recipients.map((r) => r.state), ['expired', 'rejected'], 'final states stay');
  t.same(
    db.events(a.messageId).filter((e) => e.type === 'expired').map((e) => [e.address, e.at.getTime()]),
    [
      ['+15550002222', now.getTime()],
      [null, now.getTime()],
    ],
  );
  const live = db.getMessage(late.messageId)!;
  t.equal(live.destroyed, false);
  t.equal(db.getParts(late.messageId).length, 4, 'not yet due: content kept');

  // The tombstone: a retrieval URL of a destroyed message still resolves, so the MMS-C answers "expired".
  const hit = db.findByToken(c.tokens.get('+15550002222')!);
  t.equal(hit?.message.destroyed, true);
  t.equal(hit?.recipient.state, 'expired');
  t.equal(hit?.message.envelope.subject, 'c');
  t.equal(db.findByToken('no-such-token'), undefined);

  // On disk: their parts rows are gone, the others' are there.
  const raw = peek(t, path);
  const parts = raw.prepare<[string], { n: number }>('SELECT count(*) AS n FROM parts WHERE message_id = ?');
  for (const { messageId } of [a, b, c]) t.equal(parts.get(messageId)!.n, 0);
  t.equal(parts.get(late.messageId)!.n, 4);
  t.same(raw.prepare('SELECT message_id FROM messages WHERE destroyed = 0').all(), [{ message_id: late.messageId }]);

  // The sweeper's query runs on the expiry index, not a table scan.
  const plan = raw
    .prepare('EXPLAIN QUERY PLAN SELECT message_id FROM messages WHERE destroyed = 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?')
    .all(now.getTime(), 10) as Array<{ detail: string }>;
  t.match(plan.map((p) => p.detail).join('\n'), /USING INDEX messages_expires_at/);

  await t.rejects(db.expire(now, 0), RangeError);
});

t.test('expire with the injected clock: TTL in milliseconds', async (t) => {
  const clock = new TestClock();
  const db = Db1.open(':memory:', { clock });
  t.teardown(() => db.close());
  const ids = [];
  for (let i = 0; i < 25; i++) ids.push((await db.accept(message({ expiresAt: T0 + 1000 + i }))).messageId);
  clock.ms = T0 + 1000 + 9;
  const got: string[] = [];
  for (;;) {
    const done = await db.expire(clock.now(), 4);
    t.ok(done.length <= 4, 'batch size respected');
    got.push(...done.map((d) => d.messageId));
    if (done.length < 4) break;
  }
  t.same(got, ids.slice(0, 10), 'exactly those at or before now, in expiry order');
});

t.test('reopening the file keeps everything; migrations run once', async (t) => {
  const path = tmpFile(t);
  const clock = new TestClock();
  let db = Db1.open(path, { clock });
  const r = await db.accept(message(), { source: 'mm7:demo', transactionId: 'keep' });
  await db.setState(r.messageId, '+15550002222', 'notified', 'push');
  const e = await db.accept(message({ expiresAt: T0 + 1 }));
  await db.expire(new Date(T0 + 1), 10);
  const before = { m: db.getMessage(r.messageId), p: db.getParts(r.messageId), ev: db.events(r.messageId), e: db.getMessage(e.messageId) };
  db.close();

  db = Db1.open(path, { clock });
  t.teardown(() => db.close());
  t.same(db.getMessage(r.messageId), before.m);
  t.same(db.getParts(r.messageId), before.p);
  t.same(db.events(r.messageId), before.ev);
  t.same(db.getMessage(e.messageId), before.e);
  t.equal(db.findByToken(r.tokens.get('+15550003333')!)?.recipient.state, 'accepted');
  const dup = await db.accept(message(), { source: 'mm7:demo', transactionId: 'keep' });
  t.same([dup.duplicate, dup.messageId], [true, r.messageId], 'idempotency keys survive a restart');

  const raw = new Database(path);
  t.teardown(() => raw.close());
  t.equal(raw.pragma('user_version', { simple: true }), DB1_MIGRATIONS.length);
  const latest = DB1_MIGRATIONS.length;
  t.same(migrate(raw, DB1_MIGRATIONS), { from: latest, to: latest }, 'nothing to do on a migrated file');
  const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
  t.ok(['events', 'idempotency', 'messages', 'outbox', 'parts', 'recipients', 'subscribers', 'vasps'].every((n) => tables.includes(n)), 'every table of the schema is there');
});

t.test('migrations: atomic, ordered, refuse a newer file', async (t) => {
  const raw = new Database(':memory:');
  t.teardown(() => raw.close());
  const latest = DB1_MIGRATIONS.length;
  t.same(migrate(raw, DB1_MIGRATIONS), { from: 0, to: latest });
  const broken = [...DB1_MIGRATIONS, { version: latest + 1, name: 'broken', sql: 'CREATE TABLE half (x); SELECT * FROM no_such_table;' }];
  t.throws(() => migrate(raw, broken));
  t.equal(raw.pragma('user_version', { simple: true }), latest, 'version unchanged');
  t.equal(raw.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").pluck().get(), 0, 'nothing of it applied');
  t.throws(() => migrate(raw, [{ version: 2, name: 'gap', sql: '' }]), /expected 1/);

  const path = tmpFile(t);
  Db1.open(path).close();
  const w = new Database(path);
  w.pragma('user_version = 99');
  w.close();
  t.throws(() => Db1.open(path), SchemaTooNewError);
  t.throws(() => Db1.open(path), { code: 'DB_SCHEMA_TOO_NEW', found: 99, known: DB1_MIGRATIONS.length });
});

t.test('close commits what is queued; later writes reject', async (t) => {
  const path = tmpFile(t);
  const db = Db1.open(path);
  const pending = [db.accept(small(1)), db.accept(small(2))];
  db.close();
  const done = await Promise.all(pending);
  const again = Db1.open(path);
  t.teardown(() => again.close());
  for (const r of done) t.ok(again.getMessage(r.messageId));
  await t.rejects(db.accept(small(3)), /closed/);
  db.close(); // twice is harmless
});

// ------------------------------------------------------------- durability

const DB1_MODULE = new URL(import.meta.url.endsWith('.ts') ? '../../src/store/db1.ts' : '../../src/store/db1.js', import.meta.url).href;
const TS_LOADER = process.execArgv.filter((a) => /typescript/.test(a));

/**
 * Runs `body` in a child node (tap's own TypeScript loader, so the .ts
 * sources), with `db` open on argv[1] and `message(i)` building a 1 KB
 * message with two recipients. Resolves with the child and its stdout lines.
 */
function child(t: Test, path: string, body: string, until: (lines: string[]) => boolean) {
  const script = `
    import { writeSync } from 'node:fs';
    import { Db1 } from ${JSON.stringify(DB1_MODULE)};
    const db = Db1.open(process.argv[1]);
    const message = (i) => ({
      envelope: { from: '12345', to: ['+15550002222', '+15550003333'], cc: [], bcc: [], subject: 'kill ' + i,
        date: new Date(), expiresAt: new Date(Date.now() + 86400000), deliveryReport: false, readReport: false,
        contentType: 'multipart/mixed', allowAdaptations: true,
        origin: { interface: 'mm1', msisdn: '+15550001111', transactionId: 'k' + i } },
      parts: [
        { contentType: 'text/plain', data: Buffer.from('part one of ' + i) },
        { contentType: 'application/octet-stream', data: Buffer.alloc(1024, i % 256) },
      ],
      recipients: [
        { address: '+15550002222', kind: 'to', state: 'accepted' },
        { address: '+15550003333', kind: 'to', state: 'unroutable', reason: 'test' },
      ],
    });
    ${body}
  `;
  const proc = spawn(process.execPath, [...TS_LOADER, '--input-type=module', '--eval', script, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const lines: string[] = [];
  let out = '';
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise<{ lines: string[]; exit: Promise<NodeJS.Signals | null> }>((resolve, reject) => {
    const exit = new Promise<NodeJS.Signals | null>((res) => proc.once('exit', (_code, signal) => res(signal)));
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const complete = out.split('\n');
      out = complete.pop() ?? '';
      lines.push(...complete);
      // SIGKILL as soon as the line is read: no chance to flush or close anything.
      if (until(lines) && proc.kill('SIGKILL')) resolve({ lines: [...lines], exit });
    });
    proc.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
    });
  });
}

t.test('durability: an accept acknowledged before SIGKILL is in the file', async (t) => {
  const path = tmpFile(t);
  const { lines, exit } = await child(
    t,
    path,
    `const r = await db.accept(message(1));
     writeSync(1, 'ACCEPTED ' + r.messageId + '\\n');
     for (;;) {} // busy: the only way out is the parent's SIGKILL`,
    (l) => l.some((x) => x.startsWith('ACCEPTED ')),
  );
  t.equal(await exit, 'SIGKILL');
  const id = /^ACCEPTED (\S+)$/.exec(lines.find((x) => x.startsWith('ACCEPTED '))!)?.[1];
  if (!id) throw new Error(`no id in ${lines.join('|')}`);
  const db = Db1.open(path);
  t.teardown(() => db.close());
  const m = db.getMessage(id);
  t.equal(m?.envelope.subject, 'kill 1');
  t.same(
    m?.recipients.map((r) => [r.address, r.state, r.reason]),
    [
      ['+15550002222', 'accepted', undefined],
      ['+15550003333', 'unroutable', 'test'],
    ],
  );
  const parts = db.getParts(id);
  t.equal(parts.length, 2);
  t.equal(parts[0]?.data.toString(), 'part one of 1');
  t.ok(parts[1]?.data.equals(Buffer.alloc(1024, 1)));
  t.same(db.events(id).map((e) => e.type), ['accepted', 'unroutable']);
});

t.test('durability: SIGKILL in the middle of a stream of group commits loses nothing acknowledged', async (t) => {
  const path = tmpFile(t);
  const { lines, exit } = await child(
    t,
    path,
    `let i = 0;
     // 16 writers keep the queue full, so the kill lands in a transaction or between two.
     const writer = async () => { for (;;) { const r = await db.accept(message(i++)); writeSync(1, 'ACCEPTED ' + r.messageId + '\\n'); } };
     for (let k = 0; k < 16; k++) writer();`,
    (l) => l.length >= 300,
  );
  t.equal(await exit, 'SIGKILL');
  const ids = lines.map((x) => /^ACCEPTED (\S+)$/.exec(x)?.[1]).filter((x): x is string => x !== undefined);
  t.equal(ids.length, lines.length);
  const raw = new Database(path);
  t.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
  raw.close();
  const db = Db1.open(path);
  t.teardown(() => db.close());
  let missing = 0;
  for (const id of ids) {
    const m = db.getMessage(id);
    if (!m || m.recipients.length !== 2 || db.getParts(id).length !== 2) missing++;
  }
  t.equal(missing, 0, `all ${ids.length} acknowledged accepts are there`);
});

t.test('purge forgets tombstones older than the cut, with their rows and keys; live and recent ones stay', async (t) => {
  const clock = new TestClock();
  const db = Db1.open(tmpFile(t), { clock });
  t.teardown(() => db.close());
  const old = await db.accept(message({ expiresAt: T0 + 1000 }), { source: 'mm7:demo', transactionId: 'old' });
  const recent = await db.accept(message({ expiresAt: T0 + 5000 }), { source: 'mm7:demo', transactionId: 'recent' });
  const live = await db.accept(message(), { source: 'mm7:demo', transactionId: 'live' });
  await db.expire(new Date(T0 + 1000), 10);
  await db.expire(new Date(T0 + 5000), 10);
  t.equal(await db.purge(new Date(T0 + 1000), 10), 0, 'destroyed exactly at the cut: kept');
  t.equal(await db.purge(new Date(T0 + 2000), 10), 1);
  t.equal(db.getMessage(old.messageId), undefined, 'the old tombstone is gone');
  t.equal(db.findByToken(old.tokens.get('+15550002222')!), undefined, 'its retrieval token too');
  t.same(db.events(old.messageId), [], 'and its events');
  const again = await db.accept(message(), { source: 'mm7:demo', transactionId: 'old' });
  t.notOk(again.duplicate, 'its idempotency key is forgotten');
  t.ok(db.getMessage(recent.messageId)?.destroyed, 'a recent tombstone stays');
  t.notOk(db.getMessage(live.messageId)?.destroyed, 'a live message is never purged');
  t.equal(await db.purge(new Date(T0 + 10 * HOUR), 10), 1, 'only tombstones are purged');
  t.ok(db.getMessage(live.messageId));
  t.same(db.sqlite.pragma('foreign_key_check'), [], 'no dangling rows');
});

t.test('a part longer than a piece is stored in pieces and read back whole', async (t) => {
  const path = tmpFile(t);
  const clock = new TestClock();
  const db = Db1.open(path, { clock });
  t.teardown(() => db.close());
  const big = Buffer.alloc(2 * PART_PIECE_OCTETS + 12_345);
  for (let i = 0; i < big.length; i += 997) big[i] = (i / 997) & 0xff;
  const exact = Buffer.alloc(PART_PIECE_OCTETS, 9);
  const m = await db.accept(message({ parts: [{ contentType: 'image/jpeg', contentId: 'big', data: big }, ...parts(), { contentType: 'video/3gpp', data: exact }] }));
  const back = db.getParts(m.messageId);
  t.equal(back.length, 6);
  t.ok(back[0]!.data.equals(big), 'the big part, octet for octet');
  t.equal(back[0]!.contentId, 'big');
  t.same(back.slice(1, 5), parts(), 'small parts as they were');
  t.ok(back[5]!.data.equals(exact), 'exactly one piece long: one row');
  const raw = peek(t, path);
  t.same(
    raw.prepare('SELECT seq, piece, length(data) AS n FROM part_pieces WHERE message_id = ? ORDER BY seq, piece').all(m.messageId),
    [
      { seq: 0, piece: 1, n: PART_PIECE_OCTETS },
      { seq: 0, piece: 2, n: 12_345 },
    ],
  );
  t.same(raw.prepare('SELECT length(data) AS n, pieces FROM parts WHERE message_id = ? AND seq = 0').get(m.messageId), { n: PART_PIECE_OCTETS, pieces: 2 }, 'the first piece in parts');
  t.same(
    db.partSummaries(m.messageId).map((p) => p.size),
    [big.length, ...parts().map((p) => p.data.length), exact.length],
    'summaries count the pieces',
  );
  t.equal(db.getMessage(m.messageId)?.size, big.length + exact.length + parts().reduce((n, p) => n + p.data.length, 0));

  // ReplaceReq with other content: the old pieces go.
  const replaced = Buffer.alloc(PART_PIECE_OCTETS + 1, 5);
  t.equal(await db.replace(m.messageId, 'mm7:demo', { parts: [{ contentType: 'image/png', data: replaced }], contentType: 'image/png' }), 'replaced');
  t.ok(db.getParts(m.messageId)[0]!.data.equals(replaced));
  t.same(raw.prepare('SELECT seq, piece FROM part_pieces WHERE message_id = ?').all(m.messageId), [{ seq: 0, piece: 1 }]);
  // The head (what a forward names) follows the replacement, and agrees with the envelope.
  const head = db.getMessageHead(m.messageId);
  const full = db.getMessage(m.messageId)!;
  t.same(head, {
    messageId: m.messageId,
    from: full.envelope.from,
    ...(full.envelope.subject !== undefined ? { subject: full.envelope.subject } : {}),
    date: full.envelope.date,
    contentType: 'image/png',
    size: replaced.length,
    destroyed: false,
  });

  // Cancel (as expiry) deletes the content, pieces included; purge forgets the rest.
  t.equal(await db.cancel(m.messageId, 'mm7:demo'), 'cancelled');
  t.same(db.getParts(m.messageId), []);
  t.equal(db.getMessageHead(m.messageId)?.destroyed, true, 'the head says so');
  t.equal(db.getMessageHead('no-such-id'), undefined);
  t.same(raw.prepare('SELECT count(*) AS n FROM part_pieces').get(), { n: 0 });
  const again = await db.accept(message({ parts: [{ contentType: 'image/jpeg', data: big }] }));
  clock.ms += 1000;
  await db.expire(new Date(T0 + 100 * HOUR), 10);
  t.same(raw.prepare('SELECT count(*) AS n FROM part_pieces WHERE message_id = ?').get(again.messageId), { n: 0 }, 'expiry deletes pieces too');
});
