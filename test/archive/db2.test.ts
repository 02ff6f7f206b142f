import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Db2, type NewArchivedMessage } from '../../src/store/db2.js';
import { tempDir } from './helpers.js';

function message(originalId: string, recipient = '+15550001111'): NewArchivedMessage {
  return {
    originalId,
    recipient,
    subscriptionId: null,
    sender: '+15550009999',
    contentType: 'text/plain',
    release: 'REL-6-MM7-1-4',
    extractedOn: null,
    dropped: [],
    trimmed: [],
    additional: {},
    parts: [{ contentType: 'text/plain', data: Buffer.from(originalId) }],
  };
}

t.test('DB2: checkpoints run in the checkpoint thread, not in the COMMITs of forwards', async (t) => {
  const file = join(tempDir(t), 'archive.sqlite');
  const db = new Db2(file);
  let open = true;
  t.teardown(() => {
    if (open) db.close();
  });
  const before = statSync(file).size;
  const photo = Buffer.alloc(10_000, 7);
  await Promise.all(Array.from({ length: 40 }, (_, i) => db.archive({ ...message(`ck${i}`), parts: [{ contentType: 'image/jpeg', data: photo }] })));
  t.equal(statSync(file).size, before, 'the COMMIT wrote the WAL only (no checkpoint of its own)');
  let grown = false;
  for (let i = 0; i < 50 && !grown; i++) {
    await new Promise((r) => setTimeout(r, 20));
    grown = statSync(file).size >= before + 40 * photo.length;
  }
  t.ok(grown, 'the thread copied the pages into the database file within its interval');
  db.close();
  open = false;
  t.notOk(existsSync(`${file}-wal`), 'closed: the last connection checkpointed and removed the WAL');
});

t.test('DB2: WAL, schema version, group commit', async (t) => {
  const file = join(tempDir(t), 'archive.sqlite');
  const db = new Db2(file);
  const raw = new Database(file, { readonly: true });
  t.teardown(() => raw.close());
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(raw.pragma('user_version', { simple: true }), 1);
  t.equal(raw.pragma('page_size', { simple: true }), 8192, 'a new file: 8 KiB pages');
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => db.archive(message(`m${i}`))));
  t.equal(new Set(results.map((r) => r.archiveId)).size, 50);
  // Time first (base36 ms), then 96 random bits: unguessable, and each new record lands at the end of the index.
  for (const r of results) t.match(r.archiveId, /^[0-9a-z]{9}[A-Za-z0-9_-]{16}$/);
  t.equal(db.stats.commits, 1, 'fifty writes of one tick: one commit');
  t.equal(db.stats.largestBatch, 50);
  const later = await db.archive(message('later'));
  t.ok(results.every((r) => r.archiveId.slice(0, 9) <= later.archiveId.slice(0, 9)), 'ids sort in arrival order');
  const again = await db.archive(message('m7'));
  t.same(again, { archiveId: results[7]!.archiveId, duplicate: true });
  // Another recipient of the same message is another record; left queued, close() must commit it.
  const otherRecipient = db.archive(message('m7', '+15550002222'));
  db.close();
  t.equal((await otherRecipient).duplicate, false, 'another recipient: a record of its own');
  const reopened = new Db2(file);
  t.teardown(() => reopened.close());
  t.equal(reopened.countMessages(), 52, 'everything committed, the last write included (close flushes the queue)');
  t.equal(reopened.integrityCheck(), 'ok');
});

t.test('DB2: a write resolves only after an fsync of the WAL that started after its commit', async (t) => {
  const file = join(tempDir(t), 'archive.sqlite');
  const held: Array<(err: Error | null) => void> = [];
  // The real fsync runs; its answer is held until the test lets it through.
  const db = new Db2(file, { wrapSync: (sync) => ({ sync: (done) => sync.sync((err) => held.push(() => done(err))), syncNow: () => sync.syncNow() }) });
  t.teardown(() => db.close());
  const raw = new Database(file, { readonly: true });
  t.teardown(() => raw.close());
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  let firstDone = false;
  const first = Promise.all([db.archive(message('x1')), db.archive(message('x2'))]).then((r) => ((firstDone = true), r));
  while (held.length === 0) await new Promise((r) => setTimeout(r, 1));
  t.equal((raw.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 2, 'committed (visible to another connection)');
  // A write committed while that fsync runs must wait for the next one.
  let secondDone = false;
  const second = db.archive(message('x3')).then(() => (secondDone = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
  t.equal(held.length, 1, 'one fsync for the two writes of one commit, no second one while it runs');
  t.notOk(firstDone, 'not resolved before its fsync finished');
  held[0]!(null);
  await first;
  t.ok(firstDone, 'resolved after its fsync');
  while (held.length === 1) await new Promise((r) => setTimeout(r, 1));
  t.notOk(secondDone, 'the later commit waits for an fsync of its own');
  held[1]!(null);
  await second;
});

t.test('DB2: a failing write is rolled back alone', async (t) => {
  const db = new Db2(join(tempDir(t), 'archive.sqlite'));
  t.teardown(() => db.close());
  const good1 = db.archive(message('a'));
  // address NOT NULL: this write throws inside the batch.
  const bad = db.applySubscriberChanges([{ seq: 1, address: null as unknown as string, profile: null }], 1);
  const good2 = db.archive(message('b'));
  await t.rejects(bad, /NOT NULL/);
  t.equal((await good1).duplicate, false);
  t.equal((await good2).duplicate, false);
  t.equal(db.countMessages(), 2, 'the other writes of the batch committed');
  t.equal(db.position('subscribers').position, 0, 'the failed write left no trace');
});

t.test('DB2: the subscription feed numbers every change', async (t) => {
  const db = new Db2(join(tempDir(t), 'archive.sqlite'));
  t.teardown(() => db.close());
  const a = await db.createSubscription('+15550001111', 'full');
  t.ok('created' in a);
  const dup = await db.createSubscription('+15550001111', 'photos');
  t.ok('existing' in dup, 'one live subscription per address');
  const id = 'created' in a ? a.created.id : '';
  t.ok(await db.endSubscription(id, false));
  t.equal(await db.endSubscription(id, false), undefined, 'ending twice: nothing');
  t.same(
    db.changes(0, 10).map((c) => [c.seq, c.subscriptionId, c.plan]),
    [
      [1, id, 'full'],
      [2, null, null],
    ],
  );
  t.equal(db.changeHead(), 2);
  t.same(db.changes(1, 10).map((c) => c.seq), [2]);
});

t.test('DB2: a subscription read once is kept, and every write that changes it is seen by the next read', async (t) => {
  const db = new Db2(join(tempDir(t), 'archive.sqlite'));
  t.teardown(() => db.close());
  const a = await db.createSubscription('+15550001111', 'full');
  const id = 'created' in a ? a.created.id : '';
  const first = db.getSubscription(id)!;
  t.equal(first.tokenVersion, 0);
  first.plan = 'changed by a caller';
  first.createdAt.setTime(0);
  const again = db.getSubscription(id)!;
  t.equal(again.plan, 'full', "a caller's change to its copy is not seen by the next");
  t.not(again.createdAt.getTime(), 0);
  t.equal(await db.revokeLinks(id), 1);
  t.equal(db.getSubscription(id)!.tokenVersion, 1, 'a revocation is seen at once');
  t.equal(db.getSubscription(id)!.endedAt, null);
  await db.endSubscription(id, false);
  t.ok(db.getSubscription(id)!.endedAt instanceof Date, 'so is the end');
  t.equal(db.getSubscription('no-such-id'), undefined);
  const b = await db.createSubscription('+15550001111', 'photos');
  t.ok('created' in b && db.getSubscription(b.created.id)?.plan === 'photos', 'a new one is read from DB2');
});
