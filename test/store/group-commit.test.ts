import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Db1 } from '../../src/store/db1.js';
import { durableWal, type DurableWal, type DurableWalOptions } from '../../src/store/checkpointer.js';
import { GroupCommit, walSync, type DeferredSync } from '../../src/store/group-commit.js';

function tmpFile(t: Test, name = 'gc.sqlite'): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsgw-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** A deferred sync the test finishes by hand: `calls` are the pending fsyncs' callbacks. */
class ManualSync implements DeferredSync {
  readonly calls: Array<(err: Error | null) => void> = [];
  blocking = 0;
  sync(done: (err: Error | null) => void): void {
    this.calls.push(done);
  }
  syncNow(): void {
    this.blocking++;
  }
}

function table(t: Test): Database.Database {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE x (v INTEGER NOT NULL)');
  return db;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('deferred sync: committed first, answered only after the fsync that follows the commit', async (t) => {
  const db = table(t);
  const sync = new ManualSync();
  const gc = new GroupCommit(db, 100, 'Test', sync);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const settled: number[] = [];
  const writes = [1, 2, 3].map((v) => gc.enqueue(() => insert.run(v).changes).then(() => settled.push(v)));
  await turn();
  await turn();
  t.same(db.prepare('SELECT v FROM x ORDER BY v').pluck().all(), [1, 2, 3], 'the batch is committed');
  t.equal(sync.calls.length, 1, 'one fsync for the batch');
  t.same(settled, [], 'nobody answered before the fsync');

  // A batch committed while the fsync runs waits for the next one, which starts only after it.
  const later = gc.enqueue(() => insert.run(4).changes).then(() => settled.push(4));
  await turn();
  await turn();
  t.equal(sync.calls.length, 1, 'no second fsync while the first runs');
  sync.calls[0]!(null);
  await Promise.all(writes);
  t.same(settled, [1, 2, 3], 'the first batch is answered');
  t.equal(sync.calls.length, 2, 'the batch committed meanwhile gets its own fsync, started after its commit');
  sync.calls[1]!(null);
  await later;
  t.same(settled, [1, 2, 3, 4]);
  t.same({ ...gc.stats }, { commits: 2, writes: 4, largestBatch: 3, failedCommits: 0 });
});

t.test('deferred sync: a failed fsync rejects what waits for it and every later write', async (t) => {
  const db = table(t);
  const sync = new ManualSync();
  const gc = new GroupCommit(db, 100, 'Test', sync);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const a = gc.enqueue(() => insert.run(1));
  await turn();
  await turn();
  sync.calls[0]!(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
  await t.rejects(a, /fsync failed, the database must be reopened: EIO/);
  await t.rejects(gc.enqueue(() => insert.run(2)), /fsync failed/);
  t.equal(gc.stats.failedCommits, 1);
  t.same(db.prepare('SELECT v FROM x').pluck().all(), [1], 'nothing written after the failure');
});

t.test('deferred sync: close() syncs what is committed, blocking, and answers it', async (t) => {
  const db = table(t);
  const sync = new ManualSync();
  const gc = new GroupCommit(db, 100, 'Test', sync);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const first = gc.enqueue(() => insert.run(1).changes);
  await turn();
  await turn();
  t.equal(sync.calls.length, 1, 'an fsync runs');
  const queued = gc.enqueue(() => insert.run(2).changes);
  gc.close();
  t.equal(sync.blocking, 1, 'one blocking fsync for the running one and the queue');
  t.same(await Promise.all([first, queued]), [1, 1]);
  sync.calls[0]!(null); // the thread pool's late answer changes nothing
  await t.rejects(gc.enqueue(() => insert.run(3)), /Test is closed/);
});

t.test('beforeBatch: the next batch waits for its promise, the event loop does not', async (t) => {
  const db = table(t);
  const sync = new ManualSync();
  let open: (() => void) | undefined;
  const gated = Object.assign(sync, {
    beforeBatch: (): Promise<void> | undefined => (open ? undefined : new Promise<void>((r) => (open = r))),
  });
  const gc = new GroupCommit(db, 100, 'Test', gated);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const write = gc.enqueue(() => insert.run(1).changes);
  let ticks = 0;
  for (let i = 0; i < 5; i++) {
    await turn();
    ticks++;
  }
  t.equal(ticks, 5, 'the event loop turns meanwhile');
  t.same(db.prepare('SELECT v FROM x').pluck().all(), [], 'nothing committed while the gate is shut');
  open!();
  await turn();
  await turn();
  t.same(db.prepare('SELECT v FROM x').pluck().all(), [1], 'committed once it opens');
  sync.calls[0]!(null);
  t.equal(await write, 1);
});

/** A file database in WAL mode with one table, x (v BLOB), and its durableWal, closed at the end of `t`. */
function walFile(t: Test, opts: DurableWalOptions): { path: string; db: Database.Database; wal: DurableWal } {
  const path = tmpFile(t);
  const db = new Database(path);
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE x (v BLOB NOT NULL)');
  const wal = durableWal(db, opts)!;
  t.teardown(() => {
    wal.closeThread();
    wal.closeFile();
  });
  return { path, db, wal };
}

t.test('Checkpointer (durableWal): a WAL past its size is checkpointed whole before the next batch, which restarts it', async (t) => {
  // DB1's wiring (durableWal): the WAL's fsync per group, the thread's rounds (20 ms apart here: each
  // reports the WAL's size, which the gate goes by), its gate before each batch.
  const { path, db, wal } = walFile(t, { restartOctets: 256 * 1024, intervalMs: 20 });
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the writer never checkpoints');
  let gates = 0;
  const gc = new GroupCommit(db, 100, 'Test', {
    ...wal,
    beforeBatch: () => {
      const gate = wal.beforeBatch!();
      if (gate) gates++;
      return gate;
    },
  });
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const row = Buffer.alloc(20 * 1024, 1);
  // The thread starts (its first round) while the first row is written.
  await gc.enqueue(() => insert.run(row));
  await new Promise((r) => setTimeout(r, 1000));
  // 4 MB in all, one batch right after the other.
  for (let i = 1; i < 200; i++) await gc.enqueue(() => insert.run(row));
  gc.close();
  t.ok(gates > 0, `the writer waited for a full checkpoint ${gates} times`);
  const size = statSync(`${path}-wal`).size;
  // Never restarted, it would hold all 4 MB; between two rounds up to ~0.5 MB more is written past the limit.
  t.ok(size < 3 * 1024 * 1024, `the WAL restarted: ${size} octets for 4 MB written`);
  t.equal(db.prepare('SELECT count(*) FROM x').pluck().get(), 200);
});

t.test('durableWal: a round right after the fsync of a group that brought enough content, else on the timer only', async (t) => {
  // The timer alone would wait a minute: a checkpoint seen here was woken by wrote().
  const { path, db, wal } = walFile(t, { intervalMs: 60_000, wakeAfterOctets: 100_000 });
  const gc = new GroupCommit(db, 100, 'Test', wal);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  const row = Buffer.alloc(60_000, 1);
  const before = statSync(path).size;
  // The thread's first round may run while this first write does; then nothing is due until the timer.
  await gc.enqueue(() => insert.run(row));
  await new Promise((r) => setTimeout(r, 300));
  const afterFirst = statSync(path).size;
  const write = async (): Promise<void> => {
    await gc.enqueue(() => {
      insert.run(row);
      wal.wrote(row.length);
    });
  };
  await write();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(statSync(path).size, afterFirst, `60,000 octets reported: under the threshold, no round (file ${before} -> ${afterFirst} octets)`);
  await write();
  const deadline = Date.now() + 5000;
  while (statSync(path).size === afterFirst && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.ok(statSync(path).size > afterFirst, `120,000 octets: a round after that group's fsync copied the WAL into the file (${statSync(path).size} octets)`);
  gc.close();
});

t.test('walSync: a WAL file gets synchronous=NORMAL and an fsync of its -wal; memory keeps FULL', async (t) => {
  const path = tmpFile(t);
  const db = new Database(path);
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE x (v INTEGER)');
  const sync = walSync(db);
  t.teardown(() => sync?.close());
  t.ok(sync, 'a file in WAL mode');
  t.equal(sync?.file, path);
  t.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL: COMMIT writes the WAL, the fsync is ours');
  db.exec('INSERT INTO x VALUES (1)');
  await new Promise<void>((resolve, reject) => sync!.sync((err) => (err ? reject(err) : resolve())));
  t.doesNotThrow(() => sync!.syncNow());

  const memory = new Database(':memory:');
  t.teardown(() => memory.close());
  memory.pragma('synchronous = FULL');
  t.equal(walSync(memory), undefined);
  t.equal(memory.pragma('synchronous', { simple: true }), 2, 'unchanged');
});

t.test('DB1 on a file: checkpoints run in their own thread, not in a COMMIT', async (t) => {
  const path = tmpFile(t, 'db1.sqlite');
  const db = Db1.open(path);
  t.teardown(() => db.close());
  t.equal(db.sqlite.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint inside a commit');
  t.equal(db.sqlite.pragma('synchronous', { simple: true }), 1, 'NORMAL, with the deferred fsync');
  t.equal(db.sqlite.pragma('page_size', { simple: true }), 16384, 'a new file');
  const before = statSync(path).size;
  const data = Buffer.alloc(200 * 1024, 7);
  for (let i = 0; i < 5; i++) {
    await db.accept({
      envelope: {
        from: '12345',
        to: ['+15550002222'],
        cc: [],
        bcc: [],
        date: new Date(),
        expiresAt: new Date(Date.now() + 86_400_000),
        deliveryReport: false,
        readReport: false,
        contentType: 'image/jpeg',
        allowAdaptations: true,
        origin: { interface: 'mm1', msisdn: '+15550001111', transactionId: `c${i}` },
      },
      parts: [{ contentType: 'image/jpeg', data }],
      recipients: [{ address: '+15550002222', kind: 'to', state: 'accepted' }],
    });
  }
  // The writing connection never checkpoints (autocheckpoint 0, 1 MB far under 1000 pages
  // anyway): the database file grows only if the thread copied the WAL into it.
  const deadline = Date.now() + 10_000;
  while (statSync(path).size <= before + 1024 * 1024 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok(statSync(path).size > before + 1024 * 1024, `the database file grew from ${before} to ${statSync(path).size} octets`);
});

t.test('deferred sync: durable() tells a reader when what it can see is on disk', async (t) => {
  const db = table(t);
  const sync = new ManualSync();
  const gc = new GroupCommit(db, 100, 'Test', sync);
  const insert = db.prepare('INSERT INTO x (v) VALUES (?)');
  t.equal(gc.durable(), undefined, 'nothing committed: nothing to wait for');
  void gc.enqueue(() => insert.run(1));
  await turn();
  await turn();
  t.equal(db.prepare('SELECT count(*) FROM x').pluck().get(), 1, 'a reader sees the commit');
  let onDisk = false;
  const first = gc.durable()!.then(() => (onDisk = true));
  t.ok(first instanceof Promise, 'but must wait for its fsync');
  void gc.enqueue(() => insert.run(2));
  await turn();
  await turn();
  let second = false;
  const both = gc.durable()!.then(() => (second = true));
  sync.calls[0]!(null);
  await first;
  t.ok(onDisk, 'settled by the fsync that covered the first commit');
  await turn();
  t.notOk(second, 'a wait that began after the second commit needs the next fsync');
  sync.calls[1]!(null);
  await both;
  t.equal(gc.durable(), undefined, 'all on disk');
  const plain = new GroupCommit(table(t), 100, 'Full');
  t.equal(plain.durable(), undefined, 'without a deferred sync every commit is durable when it returns');
});
